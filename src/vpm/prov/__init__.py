"""The signed, hash-chained W3C PROV ledger of every cycle and decision.

Files, under the project's data folder DATA_DIR (`.vpm/`, or `DIR/.vpm`
with `--out DIR`):

    DATA_DIR/prov/ledger.jsonl           one record per line (see `record`)
    DATA_DIR/prov/ledger.jsonl.lock      lock file for concurrent writers
    DATA_DIR/prov/keys/signing.key       active Ed25519 private key, mode 0600
    DATA_DIR/prov/keys/keyring/ID.pub    public keys, including retired ones

A cycle is recorded unsigned when there is no signing key. This package
creates a key only when `generate_key` (`vpm prov keygen`) is called,
because a key that appears unasked inside a project folder is easily
committed or copied along with it. Unsigned records are still
chained. `verify_ledger` lists those before the first signed record (or
reports them as breaks with `require_signed=True`), and reports every
unsigned record after a signed one as a break, so once cycles sign, the
signing key must stay in place. Run `vpm prov keygen` once to sign from then
on.

The keyring in DATA_DIR/prov/keys can be replaced by anyone who can write
the ledger. Verify against a trusted copy of the public keys kept elsewhere
(`vpm prov verify --keys DIR`).

Typical use by the archivist:

    signer = load_signer(default_key_dir(data_dir))
    record_cycle(ledger_dir(data_dir), cycle, signer)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from vpm.prov.cycle import (
    CycleProvenance,
    Decision,
    DecisionKind,
    FileDigest,
    RoleActivity,
    digest_file,
)
from vpm.prov.document import (
    build_cycle_document,
    build_decision_document,
    build_drafts,
)
from vpm.prov.export import export_ledger, find_record, merge_documents
from vpm.prov.keys import KeyInfo, Signer, generate_key, load_keyring, load_signer
from vpm.prov.ledger import LEDGER_FILE, append_records, read_records
from vpm.prov.record import LedgerRecord
from vpm.prov.verify import LedgerBreak, VerifyReport, verify_ledger

PROV_DIR = "prov"
KEY_DIR = "keys"

__all__ = [
    "CycleProvenance",
    "Decision",
    "DecisionKind",
    "FileDigest",
    "KeyInfo",
    "LedgerBreak",
    "LedgerRecord",
    "RoleActivity",
    "Signer",
    "VerifyReport",
    "build_cycle_document",
    "build_decision_document",
    "default_key_dir",
    "digest_file",
    "export_ledger",
    "find_record",
    "generate_key",
    "ledger_dir",
    "ledger_path",
    "load_keyring",
    "load_signer",
    "merge_documents",
    "read_records",
    "record_cycle",
    "verify_ledger",
]


def ledger_dir(data_dir: Path) -> Path:
    """Return the folder of the ledger: `DATA_DIR/prov`."""
    return data_dir / PROV_DIR


def ledger_path(data_dir: Path) -> Path:
    """Return the ledger file: `DATA_DIR/prov/ledger.jsonl`."""
    return ledger_dir(data_dir) / LEDGER_FILE


def default_key_dir(data_dir: Path) -> Path:
    """Return the default key folder: `DATA_DIR/prov/keys`."""
    return ledger_dir(data_dir) / KEY_DIR


def record_cycle(
    ledger_dir: Path,
    cycle: CycleProvenance,
    signer: Signer | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> list[LedgerRecord]:
    """Append a cycle's provenance to the ledger in `ledger_dir`.

    Writes one record for the cycle, then one per decision, in one locked
    append, so a cycle's records are contiguous even with other writers.

    Args:
        ledger_dir: Folder of `ledger.jsonl`, normally `ledger_dir(data_dir)`.
        cycle: What the cycle read, ran, decided and wrote.
        signer: Key to sign with, or None to record unsigned, chained records.
        clock: Function that returns the time for `recorded_at`, for tests.

    Returns:
        The records as written, cycle first.

    Raises:
        LedgerWriteError: The ledger could not be written.
    """
    drafts = build_drafts(cycle)
    return append_records(ledger_dir / LEDGER_FILE, drafts, signer, clock=clock)
