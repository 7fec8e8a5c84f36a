"""Prints the README's rule table: ``python -m restart_policy._rules``."""

from . import rule_table

print(rule_table(), end="")
