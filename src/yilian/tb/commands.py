"""CLI of the tb domain."""

from __future__ import annotations

import typer

tb = typer.Typer(no_args_is_help=True, help="tb")
