"""Pieces every `vpm` subcommand shares: error handling and output format.

The library raises; commands print. A `UserError` becomes one `Error: ...`
line on stderr and exit status 2, any other `VpmError` exit status 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from vpm.errors import UserError, VpmError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class OutputFormat(StrEnum):
    """Output format of a reporting command."""

    text = "text"
    json = "json"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="Output format: text or json.")
]


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn vpm errors into one line on stderr and a non-zero exit."""
    try:
        yield
    except UserError as exc:
        err_console.print(f"Error: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    except VpmError as exc:
        err_console.print(f"Error: {escape(str(exc))}")
        raise typer.Exit(1) from exc
