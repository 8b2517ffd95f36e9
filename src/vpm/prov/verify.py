"""Check every signature and chain link of a ledger, and name each break.

Kinds of break, each reported with the record's seq and the line it is on:

- `bad-line`: the line is not JSON. Its seq is inferred from its neighbours
  when they leave only one possibility.
- `bad-record`: the line is JSON but not a valid record.
- `changed-content`: the record's signature does not match its content,
  its sha256 no longer matches the `prev_sha256` its successor stored, or
  the line is not in the canonical form the writer produces.
- `removed`: seqs are missing from the chain.
- `reordered`: a record appears after a record with a higher seq.
- `duplicate`: a seq appears twice.
- `unknown-key`: the record names a key id that the keyring lacks.
- `bad-signature`: the signature or key id is missing or malformed.
- `unsigned-after-signed`: the record has no signature, but a record on an
  earlier line has one. Once a ledger is signed, every later record must be,
  because otherwise anyone who can write the ledger could cut it and append
  re-chained unsigned records.
- `unsigned`: the record has no signature and no earlier line is signed.
  This is a break only when signatures are required, because a ledger may
  begin before its first key. Otherwise the seq is listed in `unsigned_seqs`.

Signatures are checked against the keyring of `key_dir` only. Anyone who can
write the ledger can also replace a keyring stored beside it, so pass a key
folder that contains a trusted copy of the public keys.

NOTE: a chain alone cannot show that records were cut off the end of the
ledger, and a ledger whose every record is unsigned (or was stripped of its
signatures and re-chained) verifies unless signatures are required. Compare
`head_seq` and `head_sha256` with a copy kept elsewhere to detect that.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, computed_field

from vpm.prov.keys import load_keyring, verify_signature
from vpm.prov.ledger import LedgerLine, read_lines
from vpm.prov.record import (
    GENESIS_SHA256,
    LedgerRecord,
    canonical_json,
    parse_json,
    signing_payload,
)

BreakKind = Literal[
    "bad-line",
    "bad-record",
    "changed-content",
    "removed",
    "reordered",
    "duplicate",
    "unknown-key",
    "bad-signature",
    "unsigned-after-signed",
    "unsigned",
]


class LedgerBreak(BaseModel):
    """One place where the ledger fails verification."""

    kind: BreakKind = Field(description="Kind of break.")
    seq: int | None = Field(description="Seq of the broken record, if known.")
    line: int | None = Field(description="1-based ledger line, if there is one.")
    message: str = Field(description="What is wrong, as a sentence.")


class VerifyReport(BaseModel):
    """The outcome of verifying a ledger."""

    ledger: str = Field(description="Path of the ledger file.")
    key_dir: str = Field(description="Key folder whose keyring was used.")
    record_count: int = Field(
        description="Number of lines that contain a valid record."
    )
    signed_count: int = Field(description="Number of records with a valid signature.")
    unsigned_seqs: list[int] = Field(description="Seqs of unsigned records.")
    key_ids: list[str] = Field(description="Key ids the records name.")
    head_seq: int | None = Field(description="Highest seq in the chain.")
    head_sha256: str | None = Field(description="sha256 of the head record.")
    breaks: list[LedgerBreak] = Field(description="Every break, by line.")

    @computed_field
    @property
    def is_valid(self) -> bool:
        return not self.breaks


def verify_ledger(
    ledger_path: Path, key_dir: Path, *, require_signed: bool = False
) -> VerifyReport:
    """Verify every record, signature and chain link of a ledger.

    Args:
        ledger_path: The ledger file.
        key_dir: Key folder, of which only `keyring/` is read.
        require_signed: Report every unsigned record as a break. Without it,
            only unsigned records after a signed one are breaks.

    Raises:
        LedgerNotFound: `ledger_path` is not a file.
    """
    check = _LedgerCheck(key_dir, require_signed)
    for line in read_lines(ledger_path):
        check.add(line)
    return check.finish(ledger_path)


@dataclass
class _Entry:
    line: int
    seq: int
    prev_sha256: str
    sha256: str
    # True when the record's own signature check already reported a break,
    # so a chain mismatch next to it is a consequence, not a second break.
    is_broken: bool


@dataclass(frozen=True)
class _SignedRecord:
    line: int
    seq: int
    key_id: str


@dataclass
class _Unparsed:
    line: int
    seq: int | None
    # Number of valid records before this line, to find its neighbours.
    position: int
    problem: str
    kind: BreakKind


class _LedgerCheck:
    def __init__(self, key_dir: Path, require_signed: bool) -> None:
        self.key_dir = key_dir
        self.keyring = load_keyring(key_dir)
        self.require_signed = require_signed
        self.entries: list[_Entry] = []
        self.unparsed: list[_Unparsed] = []
        self.breaks: list[LedgerBreak] = []
        self.unsigned: list[int] = []
        self.key_ids: set[str] = set()
        self.signed_count = 0
        # The last earlier line whose record carries a key id. Its signature
        # may be invalid, which is a break of its own.
        self.last_signed: _SignedRecord | None = None

    def add(self, line: LedgerLine) -> None:
        try:
            data = parse_json(line.raw)
        except ValueError as exc:
            self._add_unparsed(line, None, "bad-line", _json_problem(line, exc))
            return
        try:
            record = LedgerRecord.model_validate(data)
        except ValidationError as exc:
            seq = data.get("seq") if isinstance(data, dict) else None
            seq = seq if type(seq) is int else None
            self._add_unparsed(line, seq, "bad-record", _record_problem(line, exc))
            return

        # A failed signature already reports the change, so the canonical
        # form is checked only when the signature gives no break.
        is_broken = self._check_signature(line, record, data)
        if not is_broken:
            is_broken = not self._check_canonical(line, record, data)
        self.entries.append(
            _Entry(line.number, record.seq, record.prev_sha256, line.sha256, is_broken)
        )

    def finish(self, ledger_path: Path) -> VerifyReport:
        self._report_unparsed()
        by_seq: dict[int, _Entry] = {}
        for entry in self.entries:
            by_seq.setdefault(entry.seq, entry)
        self._check_order()
        self._check_gaps(by_seq)
        self._check_links(by_seq)

        head = by_seq[max(by_seq)] if by_seq else None
        self.breaks.sort(key=lambda b: (b.line or 1 << 62, b.seq or 0))
        return VerifyReport(
            ledger=str(ledger_path),
            key_dir=str(self.key_dir),
            record_count=len(self.entries),
            signed_count=self.signed_count,
            unsigned_seqs=self.unsigned,
            key_ids=sorted(self.key_ids),
            head_seq=head.seq if head else None,
            head_sha256=head.sha256 if head else None,
            breaks=self.breaks,
        )

    def _add_unparsed(
        self, line: LedgerLine, seq: int | None, kind: BreakKind, problem: str
    ) -> None:
        self.unparsed.append(
            _Unparsed(line.number, seq, len(self.entries), problem, kind)
        )

    def _break(
        self, kind: BreakKind, seq: int | None, line: int | None, message: str
    ) -> None:
        self.breaks.append(LedgerBreak(kind=kind, seq=seq, line=line, message=message))

    def _check_canonical(
        self, line: LedgerLine, record: LedgerRecord, data: dict[str, Any]
    ) -> bool:
        """Check that the line is the canonical JSON the writer produced.

        A line with a repeated key would otherwise pass, because the parser
        keeps the last value and the signature covers only that. Another
        JSON parser may keep the first value and read different content.
        """
        if canonical_json(data) == line.raw:
            return True
        self._break(
            "changed-content",
            record.seq,
            line.number,
            f"Record seq {record.seq} at line {line.number} is not in canonical "
            "form: keys, spacing or escapes were changed, or a key was repeated.",
        )
        return False

    def _check_signature(
        self, line: LedgerLine, record: LedgerRecord, data: dict[str, Any]
    ) -> bool:
        """Check one record's signature, and return True if it reported a break."""
        where = f"Record seq {record.seq} at line {line.number}"
        if record.key_id is None and record.signature is None:
            self._check_unsigned(line, record)
            return False
        if record.key_id is not None:
            self.last_signed = _SignedRecord(line.number, record.seq, record.key_id)
        if record.key_id is None or record.signature is None:
            missing = "key_id" if record.key_id is None else "signature"
            self._break(
                "bad-signature", record.seq, line.number, f"{where} has no {missing}."
            )
            return True

        self.key_ids.add(record.key_id)
        public_key = self.keyring.get(record.key_id)
        if public_key is None:
            self._break(
                "unknown-key",
                record.seq,
                line.number,
                f"{where} is signed with key {record.key_id}, which is not in "
                f"the keyring {self.key_dir / 'keyring'}.",
            )
            return True
        signature = _decode_signature(record.signature)
        if signature is None:
            self._break(
                "bad-signature",
                record.seq,
                line.number,
                f"{where} has a signature that is not 64 bytes of base64.",
            )
            return True
        if not verify_signature(public_key, signature, signing_payload(data)):
            self._break(
                "changed-content",
                record.seq,
                line.number,
                f"{where} does not match its signature by key {record.key_id}. "
                "The record was changed after it was signed.",
            )
            return True
        self.signed_count += 1
        return False

    def _check_unsigned(self, line: LedgerLine, record: LedgerRecord) -> None:
        self.unsigned.append(record.seq)
        where = f"Record seq {record.seq} at line {line.number}"
        signed = self.last_signed
        if signed is not None:
            self._break(
                "unsigned-after-signed",
                record.seq,
                line.number,
                f"{where} is unsigned, but seq {signed.seq} at line {signed.line} "
                f"before it is signed by key {signed.key_id}. A record after a "
                "signed one must be signed, so this one was added or changed "
                "without the signing key.",
            )
        elif self.require_signed:
            self._break("unsigned", record.seq, line.number, f"{where} is unsigned.")

    def _report_unparsed(self) -> None:
        inferred = [self._infer_seq(item) for item in self.unparsed]
        for item, seq in zip(self.unparsed, inferred, strict=True):
            message = item.problem
            if item.seq is None and seq is not None:
                message += f" It was probably seq {seq}."
                item.seq = seq
            self._break(item.kind, item.seq, item.line, message)

    def _infer_seq(self, item: _Unparsed) -> int | None:
        """Infer an unparsed line's seq when its neighbours leave one choice."""
        if item.seq is not None:
            return item.seq
        run = [u for u in self.unparsed if u.position == item.position]
        before = self.entries[item.position - 1].seq if item.position else 0
        after = (
            self.entries[item.position].seq
            if item.position < len(self.entries)
            else None
        )
        if after is not None and after != before + len(run) + 1:
            return None
        return before + run.index(item) + 1

    def _check_order(self) -> None:
        first_line: dict[int, int] = {}
        top: _Entry | None = None
        for entry in self.entries:
            if entry.seq in first_line:
                self._break(
                    "duplicate",
                    entry.seq,
                    entry.line,
                    f"Record seq {entry.seq} at line {entry.line} repeats "
                    f"seq {entry.seq} at line {first_line[entry.seq]}.",
                )
            elif top is not None and entry.seq < top.seq:
                self._break(
                    "reordered",
                    entry.seq,
                    entry.line,
                    f"Record seq {entry.seq} at line {entry.line} comes after "
                    f"seq {top.seq} at line {top.line}. Records were moved.",
                )
            first_line.setdefault(entry.seq, entry.line)
            if top is None or entry.seq > top.seq:
                top = entry

    def _check_gaps(self, by_seq: dict[int, _Entry]) -> None:
        """Report each run of missing seqs below the highest seq as one break.

        Only the seqs present are sorted and compared, so a line with a huge
        seq costs no more than any other line.
        """
        first_line: dict[int, int] = {seq: entry.line for seq, entry in by_seq.items()}
        for item in self.unparsed:
            if item.seq is not None:
                first_line.setdefault(item.seq, item.line)
        previous = 0
        for seq in sorted(first_line):
            if seq > previous + 1:
                self._report_gap(previous + 1, seq - 1, first_line[seq])
            previous = seq

    def _report_gap(self, first: int, last: int, next_line: int) -> None:
        span = f"seq {first}" if first == last else f"seqs {first}-{last}"
        self._break(
            "removed",
            first,
            next_line,
            f"No record has {span} before seq {last + 1} at line {next_line}. "
            "Records were removed.",
        )

    def _check_links(self, by_seq: dict[int, _Entry]) -> None:
        for seq, entry in sorted(by_seq.items()):
            if seq == 1:
                self._check_genesis(entry)
                continue
            previous = by_seq.get(seq - 1)
            if previous is None or entry.prev_sha256 == previous.sha256:
                continue
            if entry.is_broken or previous.is_broken:
                continue
            self._break(
                "changed-content",
                previous.seq,
                previous.line,
                f"Record seq {previous.seq} at line {previous.line} no longer "
                f"has the sha256 that seq {seq} at line {entry.line} stored for "
                "it. Its line was changed.",
            )

    def _check_genesis(self, entry: _Entry) -> None:
        if entry.prev_sha256 == GENESIS_SHA256 or entry.is_broken:
            return
        self._break(
            "changed-content",
            entry.seq,
            entry.line,
            f"Record seq 1 at line {entry.line} has a prev_sha256 other than "
            "64 zeros. Records before it were removed, or it was changed.",
        )


def _decode_signature(text: str) -> bytes | None:
    try:
        signature = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return signature if len(signature) == 64 else None


def _json_problem(line: LedgerLine, exc: ValueError) -> str:
    if not line.raw.strip():
        return f"Line {line.number} is empty."
    if isinstance(exc, UnicodeDecodeError):
        return f"Line {line.number} is not UTF-8 text."
    if isinstance(exc, json.JSONDecodeError):
        return (
            f"Line {line.number} is not valid JSON ({exc.msg} at column "
            f"{exc.colno}). It was cut short or edited."
        )
    return f"Line {line.number} is not valid JSON ({exc}). It was edited."


def _record_problem(line: LedgerLine, exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "the line"
    return (
        f"Line {line.number} is JSON but not a valid record ({field}: {error['msg']})."
    )
