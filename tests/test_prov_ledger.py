"""Appending to the ledger: chaining, signing, recovery and concurrent writers."""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
from pathlib import Path

from prov_helpers import (
    RECORDS_PER_CYCLE,
    clock,
    make_cycle,
    read_ledger_lines,
    write_cycles,
)
from vpm.prov import (
    generate_key,
    ledger_dir,
    ledger_path,
    load_keyring,
    load_signer,
    read_records,
    record_cycle,
    verify_ledger,
)
from vpm.prov.keys import verify_signature
from vpm.prov.record import GENESIS_SHA256, canonical_json, signing_payload


def test_record_cycle_writes_cycle_then_decisions(tmp_path: Path) -> None:
    records = record_cycle(ledger_dir(tmp_path), make_cycle(), clock=clock)

    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert [r.id for r in records] == [
        "t1/cycle",
        "t1/finding/F-1",
        "t1/next-move/R3",
        "t1/state-patch/P-1",
    ]
    assert records[0].recorded_at == "2024-05-01T09:05:00+00:00"


def test_records_chain_by_previous_line_hash(tmp_path: Path) -> None:
    path = write_cycles(tmp_path, 2, None)

    lines = read_ledger_lines(path)
    records = [json.loads(line) for line in lines]

    assert records[0]["prev_sha256"] == GENESIS_SHA256
    for previous, record in zip(lines, records[1:], strict=False):
        assert record["prev_sha256"] == hashlib.sha256(previous).hexdigest()


def test_lines_are_canonical_json(tmp_path: Path) -> None:
    path = write_cycles(tmp_path, 1, None)

    lines = read_ledger_lines(path)

    assert all(canonical_json(json.loads(line)) == line for line in lines)
    assert "証拠".encode() in b"".join(lines)


def test_signed_record_verifies_with_public_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    info = generate_key(keys)

    records = record_cycle(ledger_dir(tmp_path), make_cycle(), load_signer(keys))

    record = records[1]
    payload = signing_payload(record.model_dump(mode="json"))
    signature = base64.b64decode(record.signature or "")
    assert record.key_id == info.key_id
    assert verify_signature(load_keyring(keys)[info.key_id], signature, payload)


def test_unsigned_records_have_no_key(tmp_path: Path) -> None:
    records = record_cycle(ledger_dir(tmp_path), make_cycle(), None)

    assert all(r.key_id is None for r in records)
    assert all(r.signature is None for r in records)


def test_append_after_cut_line(tmp_path: Path) -> None:
    path = write_cycles(tmp_path, 1, None)
    data = path.read_bytes()
    path.write_bytes(data + data.splitlines()[0][:50])

    records = record_cycle(ledger_dir(tmp_path), make_cycle("t2"), None)

    lines = read_ledger_lines(path)
    assert records[0].seq == RECORDS_PER_CYCLE + 1
    assert records[0].prev_sha256 == hashlib.sha256(lines[3]).hexdigest()
    assert len(lines) == 2 * RECORDS_PER_CYCLE + 1
    report = verify_ledger(path, tmp_path)
    assert [(b.kind, b.line) for b in report.breaks] == [("bad-line", 5)]


def test_read_records_skips_bad_lines(tmp_path: Path) -> None:
    path = write_cycles(tmp_path, 1, None)
    lines = read_ledger_lines(path)
    path.write_bytes(b"\n".join([lines[0], b"garbage", *lines[1:]]) + b"\n")

    records = [record for _, record in read_records(path)]

    assert [r.seq for r in records] == [1, 2, 3, 4]


def _append_cycles(data_dir: str, worker: int, count: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    root = Path(data_dir)
    signer = load_signer(root / "keys")
    for index in range(count):
        record_cycle(ledger_dir(root), make_cycle(f"w{worker}-{index}"), signer)


def test_concurrent_writers_lose_no_record(tmp_path: Path) -> None:
    generate_key(tmp_path / "keys")
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [
        context.Process(target=_append_cycles, args=(str(tmp_path), w, 20, start))
        for w in range(3)
    ]

    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)

    assert [w.exitcode for w in workers] == [0, 0, 0]
    report = verify_ledger(ledger_path(tmp_path), tmp_path / "keys")
    assert report.breaks == []
    assert report.record_count == 3 * 20 * RECORDS_PER_CYCLE
    assert report.signed_count == report.record_count
    records = [r for _, r in read_records(ledger_path(tmp_path))]
    assert [r.seq for r in records] == list(range(1, 3 * 20 * RECORDS_PER_CYCLE + 1))
    traces = {r.trace_id for r in records}
    assert traces == {f"w{w}-{i}" for w in range(3) for i in range(20)}


def test_concurrent_cycles_stay_contiguous(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [
        context.Process(target=_append_cycles, args=(str(tmp_path), w, 10, start))
        for w in range(2)
    ]

    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)

    records = [r for _, r in read_records(ledger_path(tmp_path))]
    for first in range(0, len(records), RECORDS_PER_CYCLE):
        block = records[first : first + RECORDS_PER_CYCLE]
        assert block[0].kind == "cycle"
        assert len({r.trace_id for r in block}) == 1
