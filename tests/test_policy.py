"""The policy model: defaults from the policy document, conversions, validation."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from aws_cdk import Duration, Size
from aws_cdk import aws_logs as logs

from restart_policy import LogPolicy, PolicyError, RestartPolicy


def test_restart_defaults_are_the_policy_documents() -> None:
    policy = RestartPolicy()
    assert policy.start_window_seconds == 120
    assert policy.start_retries == 5
    assert policy.stop_signal == "INT"
    assert policy.stop_timeout_seconds == 120
    assert policy.restart == "always"
    assert policy.exit_codes == (0,)
    assert policy.kill_as_group is True
    assert policy.stop_as_group is False


def test_durations_and_plain_seconds_are_the_same_policy() -> None:
    assert RestartPolicy(start_window=Duration.minutes(3)) == RestartPolicy(start_window=180)
    assert RestartPolicy(stop_timeout=Duration.seconds(30)).stop_timeout_seconds == 30


def test_signal_names_are_normalised() -> None:
    assert RestartPolicy(stop_signal="sigterm").stop_signal == "TERM"
    assert RestartPolicy(stop_signal=signal.SIGQUIT.name).stop_signal == "QUIT"


def test_policy_is_immutable() -> None:
    policy = RestartPolicy()
    with pytest.raises(AttributeError, match="immutable"):
        policy.start_retries = 9  # type: ignore[misc]


def test_replace_keeps_other_fields_and_validates() -> None:
    policy = RestartPolicy(start_retries=3).replace(stop_signal="TERM")
    assert (policy.start_retries, policy.stop_signal) == (3, "TERM")
    with pytest.raises(PolicyError, match="start_retries"):
        policy.replace(start_retries=0)


@pytest.mark.parametrize("window", [0, -5, Duration.seconds(0)])
def test_zero_or_negative_start_window_is_refused(window: object) -> None:
    with pytest.raises(PolicyError, match=r"start_window=.*is not positive"):
        RestartPolicy(start_window=window)  # type: ignore[arg-type]


def test_fractional_start_window_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"start_window=.*whole number of seconds"):
        RestartPolicy(start_window=Duration.millis(1500))


def test_non_duration_start_window_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"start_window='2m': is a str, not a duration"):
        RestartPolicy(start_window="2m")  # type: ignore[arg-type]


def test_non_positive_stop_timeout_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"stop_timeout=.*is not positive"):
        RestartPolicy(stop_timeout=0)


@pytest.mark.parametrize("retries", [0, -1])
def test_start_retries_below_one_is_refused(retries: int) -> None:
    with pytest.raises(
        PolicyError, match=rf"start_retries={retries}: is below 1.*Fix: give at least 1"
    ):
        RestartPolicy(start_retries=retries)


def test_non_integer_start_retries_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"start_retries=2.5: is not a whole number"):
        RestartPolicy(start_retries=2.5)  # type: ignore[arg-type]


def test_unknown_stop_signal_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"stop_signal='STOP': is not a stop signal.*TERM"):
        RestartPolicy(stop_signal="STOP")


def test_unknown_restart_mode_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"restart='sometimes': is not a restart mode"):
        RestartPolicy(restart="sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize("codes", [[256], [-1], ["0"]])
def test_exit_codes_out_of_range_are_refused(codes: list[object]) -> None:
    with pytest.raises(PolicyError, match=r"exit_codes=.*not exit codes 0..255"):
        RestartPolicy(exit_codes=codes)  # type: ignore[arg-type]


def test_empty_exit_codes_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"exit_codes=\(\): is empty"):
        RestartPolicy(exit_codes=[])


def test_exit_codes_that_are_not_a_list_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"exit_codes=0: is not a list"):
        RestartPolicy(exit_codes=0)  # type: ignore[arg-type]


def test_stop_as_group_without_kill_as_group_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"kill_as_group=False: .*supervisor refuses to load"):
        RestartPolicy(stop_as_group=True, kill_as_group=False)


def test_non_boolean_group_flag_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"kill_as_group='yes': is not a boolean"):
        RestartPolicy(kill_as_group="yes")  # type: ignore[arg-type]


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(PolicyError) as caught:
        RestartPolicy(start_window=0, start_retries=0, stop_signal="NOPE")
    message = str(caught.value)
    assert message.startswith("RestartPolicy: 3 problems:")
    for field in ("start_window", "start_retries", "stop_signal"):
        assert f"- {field}=" in message


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, ValueError)


def test_log_defaults_are_the_policy_documents() -> None:
    policy = LogPolicy()
    assert policy.max_file_size_bytes == 5 * 1024 * 1024
    assert policy.backups == 10
    assert policy.separate_stderr is True
    assert policy.directory == "/var/log/supervisor"
    assert policy.retention_days == 30
    assert policy.retention_name == "ONE_MONTH"


@pytest.mark.parametrize(
    "retention",
    [logs.RetentionDays.TWO_WEEKS, Duration.days(14), 14],
    ids=["enum", "duration", "days"],
)
def test_retention_accepts_enum_duration_and_days(retention: object) -> None:
    assert LogPolicy(retention=retention).retention_days == 14


def test_size_accepts_size_and_bytes() -> None:
    assert LogPolicy(max_file_size=Size.kibibytes(512)).max_file_size_bytes == 512 * 1024
    assert LogPolicy(max_file_size=1000).max_file_size_bytes == 1000


def test_infinite_retention_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"retention='INFINITE': keeps logs for ever"):
        LogPolicy(retention=logs.RetentionDays.INFINITE)


def test_retention_cloudwatch_does_not_accept_is_refused() -> None:
    with pytest.raises(
        PolicyError, match=r"retention=.*is 10 days, which CloudWatch Logs does not"
    ):
        LogPolicy(retention=Duration.days(10))


@pytest.mark.parametrize("size", [0, -1, Size.bytes(0)])
def test_zero_or_negative_size_is_refused(size: object) -> None:
    with pytest.raises(PolicyError, match=r"max_file_size=.*not a positive whole number of bytes"):
        LogPolicy(max_file_size=size)  # type: ignore[arg-type]


def test_backups_below_one_are_refused() -> None:
    with pytest.raises(PolicyError, match=r"backups=0: is below 1"):
        LogPolicy(backups=0)


@pytest.mark.parametrize("directory", ["var/log", "/var/log/my logs", "/var/log/50%"])
def test_bad_log_directory_is_refused(directory: str) -> None:
    with pytest.raises(PolicyError, match=r"directory="):
        LogPolicy(directory=directory)


def test_non_boolean_separate_stderr_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"separate_stderr=1: is not a boolean"):
        LogPolicy(separate_stderr=1)  # type: ignore[arg-type]


def test_log_policy_is_immutable_and_replaceable() -> None:
    policy = LogPolicy()
    with pytest.raises(AttributeError, match="immutable"):
        policy.backups = 3  # type: ignore[misc]
    assert policy.replace(backups=3).backups == 3


def test_policy_model_imports_without_cdk() -> None:
    code = (
        "import sys, restart_policy\n"
        "from restart_policy import RestartPolicy, LogPolicy, PolicyError\n"
        "RestartPolicy(start_window=60); LogPolicy(retention=14)\n"
        "assert 'aws_cdk' not in sys.modules and 'jsii' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_token_detection_tells_tokens_from_plain_values() -> None:
    from aws_cdk import App, CfnParameter, Stack

    from restart_policy._units import is_unresolved

    stack = Stack(App(), "S")
    number = CfnParameter(stack, "N", type="Number").value_as_number
    text = CfnParameter(stack, "T").value_as_string
    assert is_unresolved(number) and is_unresolved(text)
    assert not any(is_unresolved(v) for v in (0, 120, -5.5, 1e300, "plain", "$Token", True))
