"""Merge the ledger's documents into one PROV document, write it, find records."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import prov
from prov.model import ProvDocument

from vpm.prov.errors import (
    ExportFileExists,
    ExportPathInvalid,
    ExportWriteError,
    InvalidProvDocument,
    RecordNotFound,
)
from vpm.prov.ledger import read_records
from vpm.prov.record import LedgerRecord

ExportFormat = Literal["json", "jsonld", "provn"]


def load_document(record: LedgerRecord) -> ProvDocument:
    """Load a record's PROV-JSON document with `prov`.

    Raises:
        InvalidProvDocument: `prov` rejects the document.
    """
    content = json.dumps(record.document)
    try:
        return ProvDocument.deserialize(content=content, format="json")
    except prov.Error as exc:
        raise InvalidProvDocument(
            f"Record seq {record.seq} ({record.id}) has a PROV-JSON document "
            f"that prov cannot load: {exc}. Run `vpm prov verify` to find out "
            "whether the ledger was changed."
        ) from exc


def merge_documents(records: Iterable[LedgerRecord]) -> ProvDocument:
    """Merge the records' documents into one, each element and relation once.

    Elements that several records name (a role's run, an input file) are
    unified into one element. Relations carry no identifier, so identical
    relations from different records are dropped but for the first.
    """
    merged = ProvDocument()
    for record in records:
        merged.update(load_document(record))
    unified = merged.unified()
    unique = list(dict.fromkeys(unified.records))
    return ProvDocument(records=unique, namespaces=unified.namespaces)


def export_ledger(ledger_path: Path, format: ExportFormat) -> str:
    """Serialize the merged document of every valid record in the ledger.

    Lines that are not valid records are skipped with a warning. The export
    does not check signatures, so run `verify_ledger` for that.

    Raises:
        LedgerNotFound: `ledger_path` is not a file.
        InvalidProvDocument: `prov` rejects a record's document.
    """
    records = (record for _, record in read_records(ledger_path))
    document = merge_documents(records)
    if format == "provn":
        return document.get_provn()
    text = document.serialize(format=format)
    return json.dumps(json.loads(text), ensure_ascii=False, indent=2)


def write_export(path: Path, text: str, *, force: bool = False) -> None:
    """Write `text` and a newline to the file `path`.

    Without `force` the file is created only if nothing exists at `path`,
    checked and created in one step (`O_EXCL`), so an existing file or
    symlink is never overwritten. With `force` the text goes to a temporary
    file in the same folder that then replaces `path`, so readers never see
    a partly written file. A symlink at `path` is replaced, not followed.

    Raises:
        ExportPathInvalid: `path` is a folder.
        ExportFileExists: `path` exists and `force` is false.
        ExportWriteError: The file could not be written. The message names
            `path`, never the temporary file.
    """
    check_export_path(path, force=force)
    data = (text + "\n").encode("utf-8")
    try:
        if force:
            _replace_file(path, data)
        else:
            _create_file(path, data)
    except FileExistsError:
        # Something was created at `path` after `check_export_path` ran.
        raise _file_exists(path) from None
    except OSError as exc:
        raise ExportWriteError(
            f"Could not write {path}: {exc.strerror or exc}."
        ) from exc


def check_export_path(path: Path, *, force: bool = False) -> None:
    """Reject an export path that is a folder, or that exists without `force`.

    Raises:
        ExportPathInvalid: `path` is a folder.
        ExportFileExists: Something exists at `path` and `force` is false.
    """
    if path.is_dir():
        raise ExportPathInvalid(f"{path} is a folder. Pass a file path to --output.")
    if not force and (path.exists() or path.is_symlink()):
        raise _file_exists(path)


def _file_exists(path: Path) -> ExportFileExists:
    return ExportFileExists(
        f"{path} already exists. Pass --force to overwrite it, or choose another file."
    )


def find_record(ledger_path: Path, key: str) -> LedgerRecord:
    """Return the record whose seq (all digits) or id is `key`.

    Raises:
        LedgerNotFound: `ledger_path` is not a file.
        RecordNotFound: No record matches, or several records have the id.
    """
    if key.isdigit():
        matches = [r for _, r in read_records(ledger_path) if r.seq == int(key)]
    else:
        matches = [r for _, r in read_records(ledger_path) if r.id == key]
    if not matches:
        raise RecordNotFound(
            f"No record in {ledger_path} has the seq or id {key!r}. "
            "Run `vpm prov list` to see every record."
        )
    if len(matches) > 1:
        seqs = ", ".join(str(r.seq) for r in matches)
        raise RecordNotFound(
            f"Records seq {seqs} in {ledger_path} all match {key!r}. "
            "Run `vpm prov verify`, then pass a seq that is unique."
        )
    return matches[0]


def _create_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _replace_file(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
