"""The `vpm` command."""

from __future__ import annotations

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Steer a project by its state document: C, G, the gap δ and the next move.",
)


def main() -> None:
    app()
