"""The `vpm prov` commands, run through typer's CliRunner."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from prov.model import ProvDocument
from typer.testing import CliRunner

from prov_helpers import (
    RECORDS_PER_CYCLE,
    edit_line,
    read_ledger_lines,
    write_cycles,
    write_ledger_lines,
)
from vpm.prov import default_key_dir, load_signer, merge_documents, read_records
from vpm.prov.cli import app

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def signed(project: Path) -> Path:
    """A project with a signing key and 2 signed cycles (seqs 1-8)."""
    assert runner.invoke(app, ["keygen", str(project)]).exit_code == 0
    data_dir = project / ".vpm"
    signer = load_signer(default_key_dir(data_dir))
    write_cycles(data_dir, 2, signer)
    return project


def ledger_of(project: Path) -> Path:
    return project / ".vpm" / "prov" / "ledger.jsonl"


def test_keygen_prints_id_not_key(project: Path) -> None:
    result = runner.invoke(app, ["keygen", str(project)])

    key_file = project / ".vpm" / "prov" / "keys" / "signing.key"
    pem = key_file.read_text(encoding="utf-8")
    body = "".join(pem.splitlines()[1:-1])
    assert result.exit_code == 0
    assert "Generated signing key" in result.stdout
    assert body not in result.stdout
    assert "PRIVATE KEY-----" not in result.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_keygen_twice_needs_rotate(project: Path) -> None:
    runner.invoke(app, ["keygen", str(project)])

    result = runner.invoke(app, ["keygen", str(project)])

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert "--rotate" in result.stderr


def test_keygen_rotate_reports_retired_key(project: Path) -> None:
    first = runner.invoke(app, ["keygen", str(project), "--format", "json"])

    second = runner.invoke(
        app, ["keygen", str(project), "--rotate", "--format", "json"]
    )

    old, new = json.loads(first.stdout), json.loads(second.stdout)
    assert second.exit_code == 0
    assert new["retired_key_id"] == old["key_id"]
    assert new["key_id"] != old["key_id"]
    assert "PRIVATE" not in second.stdout


def test_keygen_dir_inside_project(project: Path) -> None:
    result = runner.invoke(app, ["keygen", str(project), "--dir", str(project / "k")])

    assert result.exit_code == 0
    assert (project / "k" / "signing.key").is_file()


@pytest.mark.parametrize("option", ["--dir", "--keys"])
def test_key_dir_outside_project_rejected(project: Path, option: str) -> None:
    command = "keygen" if option == "--dir" else "verify"
    outside = project / ".." / "elsewhere"

    result = runner.invoke(app, [command, str(project), option, str(outside)])

    assert result.exit_code == 2
    assert "outside" in result.stderr
    assert not outside.exists()


def test_symlink_escape_is_rejected(project: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (project / "link").symlink_to(tmp_path / "elsewhere")

    result = runner.invoke(
        app, ["keygen", str(project), "--dir", str(project / "link" / "keys")]
    )

    assert result.exit_code == 2
    assert "outside" in result.stderr
    assert not (tmp_path / "elsewhere" / "keys").exists()


def test_missing_project_is_rejected(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", str(tmp_path / "nope")])

    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_verify_valid_ledger(signed: Path) -> None:
    result = runner.invoke(app, ["verify", str(signed)])

    assert result.exit_code == 0
    assert "Records: 8 (8 signed, 0 unsigned)" in result.stdout
    assert result.stdout.rstrip().endswith("Valid.")


def test_verify_names_broken_record(signed: Path) -> None:
    lines = read_ledger_lines(ledger_of(signed))
    lines[2] = edit_line(lines[2], id="forged")
    write_ledger_lines(ledger_of(signed), lines)

    result = runner.invoke(app, ["verify", str(signed)])

    assert result.exit_code == 1
    assert "line 3, seq 3: changed-content:" in result.stdout
    assert "Invalid: 1 break." in result.stdout


def test_verify_json_report(signed: Path) -> None:
    lines = read_ledger_lines(ledger_of(signed))
    write_ledger_lines(ledger_of(signed), lines[:4] + lines[5:])

    result = runner.invoke(app, ["verify", str(signed), "--format", "json"])

    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert report["is_valid"] is False
    assert report["breaks"][0]["kind"] == "removed"
    assert report["breaks"][0]["seq"] == 5


def test_verify_lists_unsigned_records(project: Path) -> None:
    write_cycles(project / ".vpm", 1, None)

    plain = runner.invoke(app, ["verify", str(project)])
    strict = runner.invoke(app, ["verify", str(project), "--require-signed"])

    assert plain.exit_code == 0
    assert "Unsigned: seq 1-4." in plain.stdout
    assert strict.exit_code == 1
    assert "seq 1: unsigned:" in strict.stdout


def test_verify_without_ledger(project: Path) -> None:
    result = runner.invoke(app, ["verify", str(project)])

    assert result.exit_code == 2
    assert "No provenance ledger" in result.stderr


def test_out_moves_data_folder(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"

    keygen = runner.invoke(app, ["keygen", str(project), "--out", str(out)])
    signer = load_signer(default_key_dir(out / ".vpm"))
    write_cycles(out / ".vpm", 1, signer)
    verify = runner.invoke(app, ["verify", str(project), "--out", str(out)])

    assert keygen.exit_code == 0
    assert not (project / ".vpm").exists()
    assert verify.exit_code == 0
    assert "Records: 4 (4 signed" in verify.stdout


def test_list_records_as_json(signed: Path) -> None:
    result = runner.invoke(app, ["list", str(signed), "--format", "json"])

    rows = json.loads(result.stdout)
    assert result.exit_code == 0
    assert [row["seq"] for row in rows] == list(range(1, 2 * RECORDS_PER_CYCLE + 1))
    assert rows[0]["id"] == "t1/cycle"


def test_show_by_seq_prints_provn(signed: Path) -> None:
    result = runner.invoke(app, ["show", "2", str(signed)])

    assert result.exit_code == 0
    assert result.stdout.startswith("seq 2: finding t1/finding/F-1")
    assert "entity(vpm:finding.t1.F-1" in result.stdout


def test_show_by_id_as_json(signed: Path) -> None:
    result = runner.invoke(
        app, ["show", "t2/next-move/R3", str(signed), "--format", "json"]
    )

    record = json.loads(result.stdout)
    assert result.exit_code == 0
    assert record["seq"] == 7
    assert record["document"]["entity"]


def test_show_unknown_record(signed: Path) -> None:
    result = runner.invoke(app, ["show", "99", str(signed)])

    assert result.exit_code == 2
    assert "No record" in result.stderr


@pytest.mark.parametrize("fmt", ["json", "jsonld", "provn"])
def test_export_loads_back_with_prov(signed: Path, fmt: str) -> None:
    result = runner.invoke(app, ["export", str(signed), "--format", fmt])

    loaded = ProvDocument.deserialize(content=result.stdout, format=fmt)
    records = [r for _, r in read_records(ledger_of(signed))]
    assert result.exit_code == 0
    assert loaded == merge_documents(records)


def test_export_writes_file_inside_project(signed: Path) -> None:
    target = signed / "prov.jsonld"

    result = runner.invoke(
        app, ["export", str(signed), "--format", "jsonld", "-o", str(target)]
    )

    assert result.exit_code == 0
    assert result.stdout == f"Wrote {target}\n"
    assert ProvDocument.deserialize(source=target, format="jsonld").records


def test_export_outside_project_is_rejected(signed: Path) -> None:
    target = signed / ".." / "stolen.json"

    result = runner.invoke(app, ["export", str(signed), "-o", str(target)])

    assert result.exit_code == 2
    assert "outside" in result.stderr
    assert not target.exists()


def test_export_names_unloadable_document(signed: Path) -> None:
    lines = read_ledger_lines(ledger_of(signed))
    lines[1] = edit_line(lines[1], document={"entity": 5})
    write_ledger_lines(ledger_of(signed), lines)

    result = runner.invoke(app, ["export", str(signed)])

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Record seq 2 (t1/finding/F-1)")
    assert "prov cannot load" in result.stderr
