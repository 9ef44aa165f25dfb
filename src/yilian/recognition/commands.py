"""CLI of the recognition domain."""

from __future__ import annotations

import typer

recognition = typer.Typer(no_args_is_help=True, help="recognition")
