"""The append-only JSONL ledger and the lock that serializes its writers.

Writers hold an exclusive `flock` on `ledger.jsonl.lock` while they read the
last record, chain and sign the new ones, append them and fsync. Two
processes appending at once therefore never pick the same seq or the same
previous hash. Readers hold a shared lock, so they do not see half a write
(unless the folder is read-only, see `_shared_lock`).

The ledger is appended to in place rather than rewritten through a temporary
file. A rewrite would cost time in proportion to the ledger's size on every
cycle. It would also put every earlier record at risk on each write, which
is what an append-only log avoids. A write cut short (a full disk, a crash)
leaves an incomplete last line. The next append starts a new line after it,
and `verify` reports the incomplete line as a bad line.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from vpm.prov.errors import LedgerNotFound, LedgerWriteError
from vpm.prov.keys import Signer
from vpm.prov.record import (
    GENESIS_SHA256,
    RECORD_VERSION,
    LedgerRecord,
    RecordDraft,
    parse_json,
    signing_payload,
)

log = logging.getLogger("vpm")

LEDGER_FILE = "ledger.jsonl"
_TAIL_BLOCK = 1 << 16


@dataclass(frozen=True)
class LedgerLine:
    """One line of the ledger file.

    Attributes:
        number: 1-based line number.
        raw: The line's bytes without the trailing newline.
    """

    number: int
    raw: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def lock_path(ledger_path: Path) -> Path:
    """Return the lock file that guards `ledger_path`."""
    return ledger_path.with_name(ledger_path.name + ".lock")


def append_records(
    ledger_path: Path,
    drafts: Sequence[RecordDraft],
    signer: Signer | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> list[LedgerRecord]:
    """Chain, sign and append records to the ledger as one locked write.

    Args:
        ledger_path: The ledger file, created with its folder if missing.
        drafts: Records to append, in order.
        signer: Key to sign with, or None to append unsigned records.
        clock: Function that returns the current time, for tests.

    Returns:
        The records as written.

    Raises:
        LedgerWriteError: The ledger or its lock could not be written.
    """
    if not drafts:
        return []
    recorded_at = (clock or _utc_now)().astimezone(UTC).isoformat()

    try:
        ledger_path.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive_lock(lock_path(ledger_path)):
            records = _append_locked(ledger_path, drafts, signer, recorded_at)
    except OSError as exc:
        raise LedgerWriteError(
            f"Could not append to the ledger {ledger_path}: {exc.strerror or exc}."
        ) from exc

    log.info(
        "Appended %s provenance records (seq %s-%s, %s) to %s",
        len(records),
        records[0].seq,
        records[-1].seq,
        f"signed by key {signer.key_id}" if signer else "unsigned",
        ledger_path,
    )
    return records


def read_lines(ledger_path: Path) -> Iterator[LedgerLine]:
    """Return an iterator over the ledger's lines, read under a shared lock.

    Raises:
        LedgerNotFound: `ledger_path` is not a file.
    """
    if not ledger_path.is_file():
        raise LedgerNotFound(
            f"No provenance ledger at {ledger_path}. A cycle writes it when it "
            "finishes. Check the project folder and --out."
        )
    return _iter_lines(ledger_path)


def read_records(ledger_path: Path) -> Iterator[tuple[LedgerLine, LedgerRecord]]:
    """Yield each valid record with its line, and skip invalid lines with a warning.

    Raises:
        LedgerNotFound: `ledger_path` is not a file.
    """
    for line in read_lines(ledger_path):
        record = parse_record(line.raw)
        if record is None:
            log.warning(
                "Skipped line %s of %s: not a valid ledger record. "
                "Run `vpm prov verify` for details",
                line.number,
                ledger_path,
            )
            continue
        yield line, record


def parse_record(raw: bytes) -> LedgerRecord | None:
    """Parse a ledger line into a record, or return None if it is not one."""
    try:
        return LedgerRecord.model_validate(parse_json(raw))
    except (ValueError, ValidationError):
        return None


def _append_locked(
    ledger_path: Path,
    drafts: Sequence[RecordDraft],
    signer: Signer | None,
    recorded_at: str,
) -> list[LedgerRecord]:
    is_new = not ledger_path.exists()
    with ledger_path.open("ab+") as stream:
        last_seq, prev_sha256, needs_newline = _read_tail(stream)
        records = _chain(drafts, last_seq, prev_sha256, recorded_at, signer)
        lines = [record.to_line() + b"\n" for record in records]
        stream.write((b"\n" if needs_newline else b"") + b"".join(lines))
        stream.flush()
        os.fsync(stream.fileno())
    if is_new:
        _fsync_folder(ledger_path.parent)
    return records


def _chain(
    drafts: Sequence[RecordDraft],
    last_seq: int,
    prev_sha256: str,
    recorded_at: str,
    signer: Signer | None,
) -> list[LedgerRecord]:
    records = []
    for offset, draft in enumerate(drafts, start=1):
        record = LedgerRecord(
            version=RECORD_VERSION,
            seq=last_seq + offset,
            prev_sha256=prev_sha256,
            id=draft.id,
            kind=draft.kind,
            trace_id=draft.trace_id,
            recorded_at=recorded_at,
            document=draft.document,
            key_id=signer.key_id if signer else None,
            signature=None,
        )
        if signer is not None:
            record = _sign(record, signer)
        prev_sha256 = record.sha256()
        records.append(record)
    return records


def _sign(record: LedgerRecord, signer: Signer) -> LedgerRecord:
    payload = signing_payload(record.model_dump(mode="json"))
    signature = base64.b64encode(signer.sign(payload)).decode("ascii")
    return record.model_copy(update={"signature": signature})


def _read_tail(stream: IO[bytes]) -> tuple[int, str, bool]:
    """Return the last valid record's seq and sha256, and whether a newline is due.

    An empty ledger, or one with no valid record, starts the chain at seq 1.
    """
    stream.seek(0, os.SEEK_END)
    if stream.tell() == 0:
        return 0, GENESIS_SHA256, False
    stream.seek(-1, os.SEEK_END)
    needs_newline = stream.read(1) != b"\n"

    for raw in _reverse_lines(stream):
        record = parse_record(raw)
        if record is not None:
            return record.seq, hashlib.sha256(raw).hexdigest(), needs_newline
    return 0, GENESIS_SHA256, needs_newline


def _reverse_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Yield the lines of a file from the last to the first, reading blocks."""
    position = stream.seek(0, os.SEEK_END)
    pending = b""
    while position > 0:
        size = min(_TAIL_BLOCK, position)
        position -= size
        stream.seek(position)
        pending = stream.read(size) + pending
        lines = pending.split(b"\n")
        # The first piece may continue in the block before this one.
        pending = lines.pop(0)
        yield from reversed(lines)
    yield pending


def _iter_lines(ledger_path: Path) -> Iterator[LedgerLine]:
    with _shared_lock(lock_path(ledger_path)), ledger_path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            yield LedgerLine(number=number, raw=raw.removesuffix(b"\n"))


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)


@contextmanager
def _shared_lock(path: Path) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        # A read-only data folder cannot get a lock file. Reading goes on
        # without the lock, so an append running at the same moment may show
        # up as an incomplete last line.
        log.debug("Reading %s without a lock: %s", path, exc)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    # A new file's directory entry survives a crash only once the folder
    # itself is synced.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _utc_now() -> datetime:
    return datetime.now(UTC)
