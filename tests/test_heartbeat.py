"""The heartbeat file that the runtime touches and the container health check reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from restart_policy import _heartbeat


@pytest.fixture(autouse=True)
def _fresh_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_heartbeat, "_last_beat", float("-inf"))


def test_beat_without_the_variable_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_heartbeat.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    _heartbeat.beat()
    assert list(tmp_path.iterdir()) == []


def test_beat_creates_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "heartbeat"
    monkeypatch.setenv(_heartbeat.ENV_VAR, str(target))
    _heartbeat.beat()
    assert target.exists()


def test_beat_refreshes_an_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "heartbeat"
    target.touch()
    os.utime(target, (1_000_000, 1_000_000))
    monkeypatch.setenv(_heartbeat.ENV_VAR, str(target))
    _heartbeat.beat()
    assert target.stat().st_mtime > 1_000_000


def test_beats_within_a_second_touch_the_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "heartbeat"
    monkeypatch.setenv(_heartbeat.ENV_VAR, str(target))
    _heartbeat.beat()
    os.utime(target, (1_000_000, 1_000_000))
    _heartbeat.beat()  # rate-limited: a daemon doing thousands of items a second pays one write
    assert target.stat().st_mtime == 1_000_000
    _heartbeat.beat(force=True)
    assert target.stat().st_mtime > 1_000_000


def test_beat_on_an_unwritable_path_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_heartbeat.ENV_VAR, str(tmp_path / "missing-dir" / "heartbeat"))
    _heartbeat.beat()  # a full or read-only disk must not turn progress into a crash
    assert not (tmp_path / "missing-dir").exists()


def test_age_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert _heartbeat.age_seconds(str(tmp_path / "nothing")) is None


def test_age_is_measured_from_the_last_touch(tmp_path: Path) -> None:
    target = tmp_path / "heartbeat"
    target.touch()
    os.utime(target, (1_000_000, 1_000_000))
    assert _heartbeat.age_seconds(str(target), now=1_000_030) == pytest.approx(30)
