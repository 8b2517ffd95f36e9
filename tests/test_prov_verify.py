"""Verification names each broken record by seq, line and kind of break."""

from __future__ import annotations

import base64
import json
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from prov_helpers import (
    RECORDS_PER_CYCLE,
    edit_line,
    make_cycle,
    read_ledger_lines,
    write_cycles,
    write_ledger_lines,
)
from vpm.prov import (
    Signer,
    generate_key,
    ledger_dir,
    ledger_path,
    load_signer,
    record_cycle,
    verify_ledger,
)
from vpm.prov.errors import LedgerNotFound
from vpm.prov.record import canonical_json, signing_payload


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    generate_key(folder)
    return folder


@pytest.fixture
def ledger(tmp_path: Path, keys: Path) -> Path:
    """A signed ledger of 3 cycles: seqs 1-12 on lines 1-12."""
    return write_cycles(tmp_path, 3, load_signer(keys))


def breaks(ledger: Path, keys: Path, **options: bool) -> list[tuple[str, int | None]]:
    report = verify_ledger(ledger, keys, **options)
    return [(b.kind, b.seq) for b in report.breaks]


def resign(line: bytes, signer: Signer) -> bytes:
    data = json.loads(line)
    data["key_id"] = signer.key_id
    data["signature"] = base64.b64encode(signer.sign(signing_payload(data))).decode()
    return canonical_json(data)


def test_untouched_ledger_is_valid(ledger: Path, keys: Path) -> None:
    report = verify_ledger(ledger, keys)

    assert report.is_valid
    assert report.record_count == 3 * RECORDS_PER_CYCLE
    assert report.signed_count == report.record_count
    assert report.head_seq == 12
    assert report.unsigned_seqs == []


def test_edited_content_is_named(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    document = json.loads(lines[5])["document"]
    document["entity"] = {}
    lines[5] = edit_line(lines[5], document=document)
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [
        ("changed-content", 6, 6)
    ]
    assert "changed after it was signed" in report.breaks[0].message


def test_edited_field_type_is_bad_record(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines[2] = edit_line(lines[2], seq="3")
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [("bad-record", 3, 3)]
    assert "seq" in report.breaks[0].message


def test_removed_record_is_named(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    del lines[6]
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [("removed", 7, 7)]
    assert "before seq 8 at line 7" in report.breaks[0].message


def test_removed_run_is_one_break(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    del lines[3:6]
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq) for b in report.breaks] == [("removed", 4)]
    assert "seqs 4-6" in report.breaks[0].message


def test_removed_first_record_is_named(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    write_ledger_lines(ledger, lines[1:])

    assert breaks(ledger, keys) == [("removed", 1)]


def test_swapped_records_are_reordered(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines[3], lines[4] = lines[4], lines[3]
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [("reordered", 4, 5)]
    assert "comes after seq 5 at line 4" in report.breaks[0].message


def test_record_moved_to_end_is_reordered(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines.append(lines.pop(1))
    write_ledger_lines(ledger, lines)

    assert breaks(ledger, keys) == [("reordered", 2)]


def test_record_signed_with_unknown_key(ledger: Path, keys: Path) -> None:
    intruder = Signer(Ed25519PrivateKey.generate())
    lines = read_ledger_lines(ledger)
    edited = edit_line(lines[8], trace_id="forged")
    lines[8] = resign(edited, intruder)
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [("unknown-key", 9, 9)]
    assert intruder.key_id in report.breaks[0].message


def test_cut_last_line_is_bad_line(ledger: Path, keys: Path) -> None:
    data = ledger.read_bytes()
    ledger.write_bytes(data[: len(data) - 200])

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [("bad-line", 12, 12)]
    assert "Line 12 is not valid JSON" in report.breaks[0].message
    assert "It was probably seq 12." in report.breaks[0].message


def test_garbage_line_is_named(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines[1] = b"this is not json"
    write_ledger_lines(ledger, lines)

    assert breaks(ledger, keys) == [("bad-line", 2)]


def test_empty_line_is_named(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines.insert(4, b"")
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.line) for b in report.breaks] == [("bad-line", 5)]
    assert report.breaks[0].message == "Line 5 is empty."
    assert report.breaks[0].seq is None


def test_duplicated_record_is_named(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines.insert(3, lines[2])
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [("duplicate", 3, 4)]


def test_malformed_signature_is_named(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines[0] = edit_line(lines[0], signature="not base64!")
    write_ledger_lines(ledger, lines)

    assert breaks(ledger, keys) == [("bad-signature", 1)]


def test_stripped_signature_is_named(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines[0] = edit_line(lines[0], signature=None)
    write_ledger_lines(ledger, lines)

    assert breaks(ledger, keys) == [("bad-signature", 1)]


def test_edited_unsigned_record_breaks_link(tmp_path: Path) -> None:
    path = write_cycles(tmp_path, 2, None)
    lines = read_ledger_lines(path)
    lines[2] = edit_line(lines[2], trace_id="forged")
    write_ledger_lines(path, lines)

    report = verify_ledger(path, tmp_path / "keys")

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [
        ("changed-content", 3, 3)
    ]
    assert "seq 4 at line 4 stored" in report.breaks[0].message


def test_unsigned_records_are_listed_not_breaks(tmp_path: Path) -> None:
    path = write_cycles(tmp_path, 1, None)

    report = verify_ledger(path, tmp_path / "keys")

    assert report.is_valid
    assert report.unsigned_seqs == [1, 2, 3, 4]


def test_unsigned_records_break_when_required(tmp_path: Path) -> None:
    path = write_cycles(tmp_path, 1, None)

    found = breaks(path, tmp_path / "keys", require_signed=True)

    assert found == [("unsigned", 1), ("unsigned", 2), ("unsigned", 3), ("unsigned", 4)]


def test_rotation_keeps_old_records_valid(tmp_path: Path, keys: Path) -> None:
    record_cycle(ledger_dir(tmp_path), make_cycle("t1"), load_signer(keys))
    generate_key(keys, rotate=True)
    path = write_cycles(tmp_path, 1, load_signer(keys))

    report = verify_ledger(path, keys)

    assert report.is_valid
    assert len(report.key_ids) == 2
    assert report.signed_count == 2 * RECORDS_PER_CYCLE


def test_retired_key_removed_from_keyring(tmp_path: Path, keys: Path) -> None:
    old = load_signer(keys)
    record_cycle(ledger_dir(tmp_path), make_cycle("t1"), old)
    generate_key(keys, rotate=True)
    (keys / "keyring" / f"{old.key_id}.pub").unlink()  # type: ignore[union-attr]

    found = breaks(tmp_path / "prov" / "ledger.jsonl", keys)

    assert found == [("unknown-key", seq) for seq in range(1, 5)]


def test_missing_ledger_raises(tmp_path: Path) -> None:
    with pytest.raises(LedgerNotFound, match="No provenance ledger"):
        verify_ledger(tmp_path / "ledger.jsonl", tmp_path)


def test_repeated_key_is_changed_content(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    last = lines[-1]
    lines[-1] = last[:1] + b'"id":"forged",' + last[1:]
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq) for b in report.breaks] == [("changed-content", 12)]
    assert "not in canonical form" in report.breaks[0].message


def test_reformatted_line_is_changed_content(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines[-1] = json.dumps(json.loads(lines[-1]), indent=1).replace("\n", "").encode()
    write_ledger_lines(ledger, lines)

    assert breaks(ledger, keys) == [("changed-content", 12)]


def test_nan_in_line_is_bad_line(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines[-1] = lines[-1].replace(b'"seq":12', b'"seq":NaN')
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq) for b in report.breaks] == [("bad-line", 12)]
    assert "NaN is not a JSON number" in report.breaks[0].message


def test_invalid_utf8_is_bad_line(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    lines[3] = lines[3].replace(b'"seq":4', b'"seq":4,"x":"\xff"')
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq) for b in report.breaks] == [("bad-line", 4)]
    assert report.breaks[0].message.startswith("Line 4 is not UTF-8 text.")


def test_unsigned_after_signed_is_break(
    tmp_path: Path, ledger: Path, keys: Path
) -> None:
    # Cut the signed ledger after seq 8, then append re-chained unsigned
    # records, which is what a writer without the key can do.
    write_ledger_lines(ledger, read_ledger_lines(ledger)[:8])
    record_cycle(ledger_dir(tmp_path), make_cycle("forged"), None)

    report = verify_ledger(ledger, keys)

    assert not report.is_valid
    assert breaks(ledger, keys) == [("unsigned-after-signed", s) for s in range(9, 13)]
    assert "seq 8 at line 8" in report.breaks[0].message
    assert report.unsigned_seqs == [9, 10, 11, 12]


def test_unsigned_after_signed_not_doubled(
    tmp_path: Path, ledger: Path, keys: Path
) -> None:
    write_ledger_lines(ledger, read_ledger_lines(ledger)[:8])
    record_cycle(ledger_dir(tmp_path), make_cycle("forged"), None)

    found = breaks(ledger, keys, require_signed=True)

    assert found == [("unsigned-after-signed", seq) for seq in range(9, 13)]


def test_leading_unsigned_records_allowed(tmp_path: Path, keys: Path) -> None:
    write_cycles(tmp_path, 1, None)
    record_cycle(ledger_dir(tmp_path), make_cycle("t2"), load_signer(keys))
    path = ledger_path(tmp_path)

    report = verify_ledger(path, keys)
    strict = breaks(path, keys, require_signed=True)

    assert report.is_valid
    assert report.unsigned_seqs == [1, 2, 3, 4]
    assert report.signed_count == RECORDS_PER_CYCLE
    assert strict == [("unsigned", seq) for seq in range(1, 5)]


def test_several_gaps_are_separate_ranges(ledger: Path, keys: Path) -> None:
    lines = read_ledger_lines(ledger)
    del lines[9:11]
    del lines[1]
    write_ledger_lines(ledger, lines)

    report = verify_ledger(ledger, keys)

    assert [(b.kind, b.seq) for b in report.breaks] == [
        ("removed", 2),
        ("removed", 10),
    ]
    assert "No record has seq 2 before seq 3 at line 2" in report.breaks[0].message
    assert "seqs 10-11 before seq 12 at line 9" in report.breaks[1].message


def test_huge_seq_gap_uses_bounded_memory(ledger: Path, keys: Path) -> None:
    huge = 10**18
    with ledger.open("ab") as stream:
        stream.write(b'{"seq": %d}\n' % huge)

    tracemalloc.start()
    try:
        report = verify_ledger(ledger, keys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert [(b.kind, b.seq, b.line) for b in report.breaks] == [
        ("removed", 13, 13),
        ("bad-record", huge, 13),
    ]
    assert f"seqs 13-{huge - 1}" in report.breaks[0].message
    assert peak < 16 * 1024 * 1024
