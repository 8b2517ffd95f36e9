"""The `vpm prov` commands: keygen, verify, list, show and export.

Every command takes the project folder (default `.`) and `--out DIR`. The
data folder is `DIR/.vpm` with `--out`, otherwise `PROJECT/.vpm`.

A folder or file named in an option (`keygen --dir`, `verify --keys`,
`export --output`) may be anywhere, because the user chose it, and a trusted
keyring kept outside the project is what makes `verify --keys` worth
running. `export --output` is still rejected inside a data folder, where it
could overwrite the ledger or the keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vpm.errors import ProjectNotFound, UserError, VpmError
from vpm.prov import (
    default_key_dir,
    export_ledger,
    find_record,
    generate_key,
    ledger_path,
    read_records,
    verify_ledger,
)
from vpm.prov.errors import ExportPathInvalid, KeyringNotFound
from vpm.prov.export import check_export_path, load_document, write_export
from vpm.prov.keys import KEYRING_DIR, KeyInfo
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
    """The project a command works on and its data folder."""

    project: Path
    data_dir: Path


@app.command()
def keygen(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    key_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Key folder, which may be outside the project. Default: "
            "DATA_DIR/prov/keys, the only folder cycles sign with.",
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
    key in DATA_DIR/prov/keys from then on, and never with a key in another
    folder.

    Copy keyring/ to a folder that only you can write, and verify with
    --keys pointing there, because anyone who can write the ledger can also
    replace the keyring beside it.

    Example: vpm prov keygen . --rotate
    """
    with _cli_errors():
        target = _target(project, out)
        folder = _key_dir(target, key_dir)
        info = generate_key(folder, rotate=rotate)
        _print_key(info, output_format, default_key_dir(target.data_dir))


@app.command()
def verify(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    key_dir: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            metavar="DIR",
            help="Key folder whose keyring/ contains the public keys, which "
            "may be outside the project. Default: DATA_DIR/prov/keys, which "
            "anyone who can write the ledger can also replace.",
        ),
    ] = None,
    require_signed: Annotated[
        bool,
        typer.Option(
            "--require-signed",
            help="Also count unsigned records before the first signed one as "
            "breaks. Unsigned records after it are always breaks.",
        ),
    ] = False,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Check every signature and chain link of the ledger.

    Names each broken record by seq and line with the kind of break:
    changed-content, removed, reordered, duplicate, unknown-key,
    bad-signature, bad-line, bad-record or unsigned-after-signed. The last
    is an unsigned record on a line after a signed one. With
    --require-signed, an unsigned record before the first signed one is a
    break of kind unsigned. Exit status 0 when the ledger is valid, 1 when
    it is not.

    Pass --keys with a trusted copy of the keyring, because the default
    keyring sits beside the ledger and can be replaced along with it.

    Example: vpm prov verify . --keys ~/trusted-vpm-keys --format json
    """
    with _cli_errors():
        target = _target(project, out)
        folder = _key_dir(target, key_dir)
        if key_dir is not None:
            _check_keyring(key_dir, folder)
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
            help="Write to FILE instead of standard output. A relative FILE "
            "is resolved against the current folder. FILE may be outside the "
            "project, but not inside a data folder (.vpm).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite FILE if it exists."),
    ] = False,
) -> None:
    """Export every record's document, merged into one PROV document.

    Signatures are not checked, so run `vpm prov verify` first. An existing
    FILE is kept unless --force is given.

    Example: vpm prov export . --format jsonld -o prov.jsonld
    """
    with _cli_errors():
        target = _target(project, out)
        if output is not None:
            _check_export_path(target, output)
            check_export_path(output, force=force)
        text = export_ledger(ledger_path(target.data_dir), export_format.value)
        if output is None:
            typer.echo(text)
            return
        write_export(output, text, force=force)
        typer.echo(f"Wrote {output}")


def _target(project: Path, out: Path | None) -> _Target:
    if not project.is_dir():
        raise ProjectNotFound(
            f"Project folder {project} does not exist or is not a folder."
        )
    root = project.resolve()
    data_root = out.resolve() if out is not None else root
    return _Target(project=root, data_dir=data_root / ".vpm")


def _key_dir(target: _Target, value: Path | None) -> Path:
    if value is None:
        return default_key_dir(target.data_dir)
    return value.resolve()


def _check_keyring(key_dir: Path, folder: Path) -> None:
    # A mistyped --keys folder would otherwise report every signed record
    # as signed with an unknown key.
    if not (folder / KEYRING_DIR).is_dir():
        raise KeyringNotFound(
            f"--keys {key_dir} has no {KEYRING_DIR}/ folder at {folder / KEYRING_DIR}. "
            "Pass the folder that contains keyring/, such as a copy of "
            "DATA_DIR/prov/keys."
        )


def _check_export_path(target: _Target, output: Path) -> None:
    """Reject an export path that resolves into a data folder.

    Both the data folder in use and `PROJECT/.vpm` are checked, because with
    `--out` the project's own data folder still contains a ledger and keys
    that other runs use.
    """
    resolved = output.resolve()
    for data_dir in dict.fromkeys([target.data_dir, target.project / ".vpm"]):
        if resolved.is_relative_to(data_dir) or resolved.is_relative_to(
            data_dir.resolve()
        ):
            raise ExportPathInvalid(
                f"--output {output} resolves to {resolved}, inside the data "
                f"folder {data_dir}, where it could overwrite the ledger or the "
                "keys. Choose a file outside the data folder."
            )


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


def _print_key(info: KeyInfo, output_format: OutputFormat, signing_dir: Path) -> None:
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
    if info.private_key_path.parent != signing_dir:
        typer.echo(
            f"Cycles sign with {signing_dir / info.private_key_path.name} unless "
            f"VPM_SIGNING_KEY_DIR={info.private_key_path.parent} is set."
        )


def _print_report(report: VerifyReport, output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        _echo_json(report.model_dump(mode="json"))
        return
    unsigned = len(report.unsigned_seqs)
    typer.echo(f"Ledger: {report.ledger}")
    typer.echo(f"Keyring: {Path(report.key_dir) / 'keyring'}")
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
