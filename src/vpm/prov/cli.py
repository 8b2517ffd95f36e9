"""The `vpm prov` commands: keygen, verify, list, show and export.

Every command takes the project folder (default `.`) and `--out DIR`. The
data folder is `DIR/.vpm` with `--out`, otherwise `PROJECT/.vpm`. A path
given in an option must resolve inside the project or inside `--out DIR`,
otherwise the command fails with exit status 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vpm.errors import PathOutsideProject, ProjectNotFound, UserError, VpmError
from vpm.prov import (
    default_key_dir,
    export_ledger,
    find_record,
    generate_key,
    ledger_path,
    read_records,
    verify_ledger,
)
from vpm.prov.export import load_document
from vpm.prov.keys import KeyInfo
from vpm.prov.record import LedgerRecord
from vpm.prov.verify import VerifyReport

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Record, verify and export the signed provenance ledger.",
)


class OutputFormat(StrEnum):
    """Output format of a reporting command."""

    text = "text"
    json = "json"


class ExportFormat(StrEnum):
    """PROV serialization written by `vpm prov export`."""

    json = "json"
    jsonld = "jsonld"
    provn = "provn"


ProjectArg = Annotated[Path, typer.Argument(help="Project folder.", show_default=True)]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        help="Use DIR/.vpm as the data folder instead of PROJECT/.vpm.",
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="Output format: text or json.")
]


@dataclass(frozen=True)
class _Target:
    """The project a command works on, and where it may read and write."""

    project: Path
    data_dir: Path
    roots: tuple[Path, ...]

    def inside(self, path: Path, option: str) -> Path:
        """Resolve a path given in `option`, and reject it if it leaves the roots."""
        resolved = path.resolve()
        if any(resolved.is_relative_to(root) for root in self.roots):
            return resolved
        allowed = " or ".join(str(root) for root in self.roots)
        raise PathOutsideProject(
            f"{option} {path} resolves to {resolved}, which is outside {allowed}. "
            "Pass a path inside the project or inside --out."
        )


@app.command()
def keygen(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    key_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Key folder. Default: DATA_DIR/prov/keys.",
        ),
    ] = None,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="Replace the current signing key. Its public key stays in the "
            "keyring, so records it signed still verify.",
        ),
    ] = False,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Create an Ed25519 signing key for the ledger.

    The key folder is --dir, by default DATA_DIR/prov/keys. The private key
    goes to signing.key in it with mode 0600 and is never printed. The public
    key goes to keyring/KEY_ID.pub in it. Cycles sign their records with the
    key from then on.

    Example: vpm prov keygen . --rotate
    """
    with _cli_errors():
        target = _target(project, out)
        folder = _key_dir(target, key_dir, "--dir")
        info = generate_key(folder, rotate=rotate)
        _print_key(info, output_format)


@app.command()
def verify(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    key_dir: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            metavar="DIR",
            help="Key folder whose keyring/ contains the public keys. "
            "Default: DATA_DIR/prov/keys.",
        ),
    ] = None,
    require_signed: Annotated[
        bool,
        typer.Option("--require-signed", help="Count unsigned records as breaks."),
    ] = False,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Check every signature and chain link of the ledger.

    Names each broken record by seq and line with the kind of break:
    changed-content, removed, reordered, duplicate, unknown-key,
    bad-signature, bad-line, bad-record, or unsigned with --require-signed.
    Exit status 0 when the ledger is valid, 1 when it is not.

    Example: vpm prov verify . --format json
    """
    with _cli_errors():
        target = _target(project, out)
        folder = _key_dir(target, key_dir, "--keys")
        report = verify_ledger(
            ledger_path(target.data_dir), folder, require_signed=require_signed
        )
        _print_report(report, output_format)
    if not report.is_valid:
        raise typer.Exit(1)


@app.command("list")
def list_records(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """List the ledger's records: seq, kind, id, time and signing key."""
    with _cli_errors():
        target = _target(project, out)
        records = [r for _, r in read_records(ledger_path(target.data_dir))]
        _print_records(records, output_format)


@app.command()
def show(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="Seq or record id.")],
    project: ProjectArg = Path("."),
    out: OutOption = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Print one record, found by its seq or id, with its document in PROV-N.

    The signature is not checked here, so run `vpm prov verify` for that.

    Example: vpm prov show 3
    """
    with _cli_errors():
        target = _target(project, out)
        record = find_record(ledger_path(target.data_dir), record_id)
        _print_record(record, output_format)


@app.command()
def export(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    export_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="PROV-JSON (json), PROV-JSONLD or PROV-N."),
    ] = ExportFormat.json,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to FILE instead of standard output.",
        ),
    ] = None,
) -> None:
    """Export every record's document, merged into one PROV document.

    Signatures are not checked, so run `vpm prov verify` first.

    Example: vpm prov export . --format jsonld -o prov.jsonld
    """
    with _cli_errors():
        target = _target(project, out)
        destination = target.inside(output, "--output") if output else None
        text = export_ledger(ledger_path(target.data_dir), export_format.value)
        if destination is None:
            typer.echo(text)
            return
        _write_atomic(destination, text)
        typer.echo(f"Wrote {destination}")


def _target(project: Path, out: Path | None) -> _Target:
    if not project.is_dir():
        raise ProjectNotFound(
            f"Project folder {project} does not exist or is not a folder."
        )
    root = project.resolve()
    out_root = out.resolve() if out is not None else None
    data_root = out_root or root
    roots = (root,) if out_root is None else (root, out_root)
    return _Target(project=root, data_dir=data_root / ".vpm", roots=roots)


def _key_dir(target: _Target, value: Path | None, option: str) -> Path:
    if value is None:
        return default_key_dir(target.data_dir)
    return target.inside(value, option)


@contextmanager
def _cli_errors() -> Iterator[None]:
    """Turn vpm errors into one `Error: ...` line and an exit status."""
    try:
        yield
    except UserError as exc:
        _fail(str(exc), 2)
    except VpmError as exc:
        _fail(str(exc), 1)
    except OSError as exc:
        _fail(f"{exc.filename or 'file'}: {exc.strerror or exc}.", 1)


def _fail(message: str, code: int) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _print_key(info: KeyInfo, output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        _echo_json(
            {
                "key_id": info.key_id,
                "private_key_path": str(info.private_key_path),
                "public_key_path": str(info.public_key_path),
                "retired_key_id": info.retired_key_id,
            }
        )
        return
    typer.echo(f"Generated signing key {info.key_id}.")
    typer.echo(f"Private key: {info.private_key_path} (mode 0600)")
    typer.echo(f"Public key: {info.public_key_path}")
    if info.retired_key_id:
        typer.echo(
            f"Retired key {info.retired_key_id}. Its public key stays in the keyring."
        )


def _print_report(report: VerifyReport, output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        _echo_json(report.model_dump(mode="json"))
        return
    unsigned = len(report.unsigned_seqs)
    typer.echo(f"Ledger: {report.ledger}")
    typer.echo(
        f"Records: {report.record_count} ({report.signed_count} signed, "
        f"{unsigned} unsigned). Keys: {', '.join(report.key_ids) or 'none'}."
    )
    if unsigned:
        typer.echo(f"Unsigned: seq {_format_seqs(report.unsigned_seqs)}.")
    if report.head_seq is not None:
        typer.echo(f"Head: seq {report.head_seq}, sha256 {report.head_sha256}.")
    for item in report.breaks:
        line = item.line if item.line is not None else "-"
        seq = item.seq if item.seq is not None else "?"
        typer.echo(f"line {line}, seq {seq}: {item.kind}: {item.message}")
    count = len(report.breaks)
    noun = "break" if count == 1 else "breaks"
    typer.echo(f"Invalid: {count} {noun}." if count else "Valid.")


def _print_records(records: list[LedgerRecord], output_format: OutputFormat) -> None:
    rows = [
        {
            "seq": r.seq,
            "kind": r.kind,
            "id": r.id,
            "recorded_at": r.recorded_at,
            "key_id": r.key_id,
        }
        for r in records
    ]
    if output_format is OutputFormat.json:
        _echo_json(rows)
        return
    table = Table("seq", "kind", "id", "recorded at", "key")
    for row in rows:
        key = row["key_id"] or "unsigned"
        table.add_row(str(row["seq"]), row["kind"], row["id"], row["recorded_at"], key)
    Console(soft_wrap=True).print(table)


def _print_record(record: LedgerRecord, output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        _echo_json(record.model_dump(mode="json"))
        return
    typer.echo(f"seq {record.seq}: {record.kind} {record.id}")
    typer.echo(f"trace: {record.trace_id}")
    typer.echo(f"recorded at: {record.recorded_at}")
    typer.echo(f"key: {record.key_id or 'unsigned'}")
    typer.echo(f"prev sha256: {record.prev_sha256}")
    typer.echo(load_document(record).get_provn())


def _format_seqs(seqs: list[int]) -> str:
    """Format sorted seqs as ranges, e.g. `1-3, 7`."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and runs[-1][-1] == seq - 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    return ", ".join(
        str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs
    )


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
