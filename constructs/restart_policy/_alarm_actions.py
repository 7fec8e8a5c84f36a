"""How the library's alarms notify."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch


def notify(alarm: cloudwatch.AlarmBase, actions: Sequence[cloudwatch.IAlarmAction]) -> None:
    """Every action hears both the alarm and the recovery: someone must see both."""
    for action in actions:
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
