"""CLI of the familydoctor domain."""

from __future__ import annotations

import typer

reminders = typer.Typer(no_args_is_help=True, help="familydoctor")
