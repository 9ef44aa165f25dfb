"""CLI of the surveillance domain."""

from __future__ import annotations

import typer

surveil = typer.Typer(no_args_is_help=True, help="surveillance")
