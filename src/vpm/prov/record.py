"""Ledger records: their fields, canonical bytes, hash and signed payload.

A record is stored as one line of the ledger: its canonical JSON (below)
followed by a newline. The record's sha256 is the sha256 of that line
without the newline, and the next record stores it as `prev_sha256`. The
signature covers the record's canonical JSON without the `signature` field,
prefixed with `SIGNATURE_CONTEXT`, so a ledger signature cannot be replayed
as a signature over anything else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

RECORD_VERSION = 1
GENESIS_SHA256 = "0" * 64
SIGNATURE_CONTEXT = b"vpm-prov-ledger-v1\n"

RecordKind = Literal["cycle", "finding", "next-move", "state-patch"]
KeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


@dataclass(frozen=True)
class RecordDraft:
    """A record before the ledger gives it a seq, a chain link and a signature.

    Attributes:
        id: Record id, `TRACE/cycle` or `TRACE/KIND/DECISION_ID`.
        kind: `cycle`, or the decision's kind.
        trace_id: Trace id of the cycle the record belongs to.
        document: The record's PROV-JSON document.
    """

    id: str
    kind: RecordKind
    trace_id: str
    document: dict[str, Any]


class LedgerRecord(BaseModel):
    """One signed, chained line of the provenance ledger.

    Validation is strict so that a value edited into another JSON type (the
    string "5" in place of the number 5) is rejected, not silently converted.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    version: Literal[1] = Field(description="Record format version.")
    seq: int = Field(ge=1, description="Position in the chain, from 1.")
    prev_sha256: Sha256Hex = Field(
        description="sha256 of the previous record's line, or 64 zeros for seq 1."
    )
    id: str = Field(description="`TRACE/cycle` or `TRACE/KIND/DECISION_ID`.")
    kind: RecordKind = Field(description="`cycle` or the decision's kind.")
    trace_id: str = Field(description="Trace id of the cycle.")
    recorded_at: str = Field(description="ISO 8601 UTC time of the append.")
    document: dict[str, Any] = Field(description="The PROV-JSON document.")
    key_id: KeyId | None = Field(
        description="Id of the signing key, or None for an unsigned record."
    )
    signature: str | None = Field(
        description="Base64 Ed25519 signature of `signing_payload`, or None."
    )

    def to_line(self) -> bytes:
        """Return the record's ledger line, without the trailing newline."""
        return canonical_json(self.model_dump(mode="json"))

    def sha256(self) -> str:
        """Return the sha256 of the record's ledger line, as hex."""
        return hashlib.sha256(self.to_line()).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Encode a JSON value as compact UTF-8 JSON with sorted keys.

    Parsing the output and encoding it again yields the same bytes, which
    is what lets a verifier rebuild the signed payload from a stored line.
    """
    text = json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


def parse_json(raw: bytes) -> Any:
    """Parse one ledger line as JSON, rejecting NaN and Infinity.

    Raises:
        ValueError: The line is not UTF-8, not JSON, or contains NaN or Infinity,
            which `canonical_json` cannot encode.
    """
    return json.loads(raw, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def signing_payload(record: Mapping[str, Any]) -> bytes:
    """Return the bytes a record's signature covers: all fields but `signature`."""
    unsigned = {key: value for key, value in record.items() if key != "signature"}
    return SIGNATURE_CONTEXT + canonical_json(unsigned)
