"""The crash line: exactly one, whatever the app's logging; bounded; OpenTelemetry names; exits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from restart_policy import runtime
from tests.test_runtime import daemon, finish, json_lines, start


def crash_lines(err: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(err) if line.get("event") == "crash"]


SETUPS = {
    "none": "",
    "basicConfig": "logging.basicConfig(level=logging.INFO)",
    "root-at-warning": "logging.basicConfig(level=logging.WARNING)",
    "propagate-false": (
        "logging.basicConfig(); logging.getLogger('restart_policy').propagate = False"
    ),
    "runtime-logger-disabled": "logging.getLogger('restart_policy.runtime').disabled = True",
}


@pytest.mark.parametrize("setup", SETUPS.values(), ids=SETUPS.keys())
def test_exactly_one_json_crash_line_whatever_the_logging_setup(tmp_path: Path, setup: str) -> None:
    path = daemon(
        tmp_path,
        f"""
        import logging
        {setup}
        def main():
            raise ConnectionError("db gone")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == 1
    assert len(crash_lines(err)) == 1, err
    assert err.splitlines()[-1].startswith("{")  # nothing raw after the JSON line


def test_dict_config_inside_main_does_not_lose_the_crash(tmp_path: Path) -> None:
    # dictConfig disables loggers made before it: the old runtime's own logger among them.
    app_log = tmp_path / "app.log"
    path = daemon(
        tmp_path,
        f"""
        import logging.config
        FILE = {{"class": "logging.FileHandler", "filename": {str(app_log)!r}}}
        def main(life):
            logging.config.dictConfig({{
                "version": 1,
                "handlers": {{"file": FILE}},
                "root": {{"handlers": ["file"], "level": "INFO"}},
            }})
            raise ConnectionError("db gone")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == 1
    assert len(crash_lines(err)) == 1, err
    assert "unhandled exception" in app_log.read_text()


def test_the_crash_reaches_the_apps_own_handlers_as_a_record(tmp_path: Path) -> None:
    app_log = tmp_path / "app.log"
    path = daemon(
        tmp_path,
        f"""
        import logging
        logging.basicConfig(
            filename={str(app_log)!r},
            format="%(levelname)s %(name)s %(restart_policy_event)s %(message)s",
        )
        def main():
            raise ConnectionError("db gone")
        runtime.run(main)
        """,
    )
    code, _, _ = finish(start(path))
    assert code == 1
    first = app_log.read_text().splitlines()[0]
    assert first.startswith("ERROR restart_policy.runtime crash unhandled exception"), first
    assert "ConnectionError: db gone" in app_log.read_text()  # exc_info, as logging.exception


def test_the_users_levels_are_never_changed(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import logging
        logging.getLogger("restart_policy.runtime").setLevel(logging.WARNING)
        def main():
            logger = logging.getLogger("restart_policy.runtime")
            print(logger.level, logger.propagate)
        runtime.run(main)
        """,
    )
    code, out, _ = finish(start(path))
    assert (code, out.split()) == (0, ["30", "True"])


def test_exception_fields_use_opentelemetry_names(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main():
            raise KeyError("account")
        runtime.run(main)
        """,
    )
    _, _, err = finish(start(path))
    (line,) = crash_lines(err)
    assert set(line["exception"]) == {"type", "message", "stacktrace"}


def test_a_huge_item_is_bounded_by_default(tmp_path: Path) -> None:
    # A 300 KB message used to give a 600 KB line: repr in the item and again in the note.
    path = daemon(
        tmp_path,
        """
        def main(life):
            message = "card=4111111111111111;" + "x" * 300_000
            with runtime.item(message):
                raise ValueError("bad message")
        runtime.run(main)
        """,
    )
    _, _, err = finish(start(path))
    (line,) = crash_lines(err)
    assert len(str(line["item"])) <= runtime.MAX_ITEM_CHARS + 40
    assert len(err.encode()) < 10_000


def test_describe_hook_names_the_item(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main(life):
            with runtime.item({"id": 42, "card": "4111111111111111"}, describe=lambda m: m["id"]):
                raise ValueError("bad message")
        runtime.run(main)
        """,
    )
    _, _, err = finish(start(path))
    (line,) = crash_lines(err)
    assert line["item"] == "42"
    assert "4111" not in err


def test_describe_hook_that_raises_falls_back_to_the_type_name(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main(life):
            with runtime.item({"card": "4111111111111111"}, describe=lambda m: m["id"]):
                raise ValueError("bad message")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    (line,) = crash_lines(err)
    assert code == 1
    assert line["item"] == "<builtins.dict> (describe= raised KeyError: 'id')"
    assert line["exception"]["message"] == "bad message"


def test_a_huge_exception_message_gives_a_bounded_line_with_a_marker(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main():
            raise ValueError("é" * 400_000)
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == 1
    (raw,) = err.splitlines()
    assert len(raw.encode()) <= runtime.MAX_LINE_BYTES
    line = json.loads(raw)
    assert line["truncated"] is True
    assert "[truncated" in line["exception"]["message"]
    assert (line["event"], line["exit_code"]) == ("crash", 1)


@pytest.mark.parametrize(
    ("statement", "exit_code"),
    [("sys.exit('config file missing')", 1), ("sys.exit(3)", 3), ("raise KeyboardInterrupt", 130)],
    ids=["string", "number", "keyboard-interrupt"],
)
def test_exits_that_bypassed_the_line_are_one_json_line(
    tmp_path: Path, statement: str, exit_code: int
) -> None:
    path = daemon(
        tmp_path,
        f"""
        import sys
        def main():
            {statement}
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == exit_code
    (raw,) = err.splitlines()
    line = json.loads(raw)
    assert (line["event"], line["exit_code"]) == ("crash", exit_code)


def test_a_clean_system_exit_writes_no_crash_line(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import sys
        def main():
            sys.exit(0)
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert (code, err) == (0, "")


GROUP = """
class ValidationError(Exception):
    pass
def main():
    raise ExceptionGroup("batch", [ValidationError("a"), ExceptionGroup("inner", [{leaf}])])
runtime.run(main, handled={{ValidationError: "WARNING", TimeoutError: "ERROR"}})
"""


def test_an_exception_group_of_handled_leaves_is_handled(tmp_path: Path) -> None:
    path = daemon(tmp_path, GROUP.format(leaf="TimeoutError('slow')"))
    code, _, err = finish(start(path))
    assert code == 0
    (line,) = json_lines(err)
    assert (line["event"], line["level"]) == ("handled-exit", "ERROR")  # the highest leaf level


def test_an_exception_group_with_one_unknown_leaf_is_a_crash(tmp_path: Path) -> None:
    path = daemon(tmp_path, GROUP.format(leaf="ConnectionError('db gone')"))
    code, _, err = finish(start(path))
    assert code == 1
    assert len(crash_lines(err)) == 1


def test_item_handles_an_exception_group_of_handled_leaves(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main(life):
            for n in life.items(range(2)):
                with runtime.item(n, handled={ValueError: "WARNING"}):
                    raise ExceptionGroup("batch", [ValueError("a"), ValueError("b")])
            print("went on")
        runtime.run(main)
        """,
    )
    code, out, err = finish(start(path))
    assert (code, out.strip()) == (0, "went on")
    assert [line["event"] for line in json_lines(err)] == ["item-handled", "item-handled"]


def test_the_stacktrace_starts_in_the_apps_code(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main():
            raise KeyError("account")
        runtime.run(main)
        """,
    )
    _, _, err = finish(start(path))
    (line,) = crash_lines(err)
    frames = line["exception"]["stacktrace"].splitlines()
    assert frames[1].startswith(f'  File "{path}"'), frames


def test_describe_given_to_run_applies_to_every_item(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main(life):
            with runtime.item({"id": 7, "card": "4111111111111111"}):
                raise ValueError("bad message")
        runtime.run(main, describe=lambda m: f"message {m['id']}")
        """,
    )
    _, _, err = finish(start(path))
    (line,) = crash_lines(err)
    assert line["item"] == "message 7"
    assert "4111" not in err


def test_an_apps_json_formatter_on_stderr_does_not_double_the_crash_event(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import json, logging
        class ExtrasAsJson(logging.Formatter):  # as python-json-logger does: every extra
            def format(self, record):
                return json.dumps({k: str(v) for k, v in vars(record).items()})
        handler = logging.StreamHandler()
        handler.setFormatter(ExtrasAsJson())
        logging.basicConfig(handlers=[handler])
        def main():
            raise ConnectionError("db gone")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == 1
    assert len(json_lines(err)) == 2  # the app's own line, then the runtime's
    assert len(crash_lines(err)) == 1
