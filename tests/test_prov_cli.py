"""The `vpm prov` commands, run through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
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
from vpm.prov import export as export_module
from vpm.prov.cli import app
from vpm.prov.errors import ExportFileExists

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


def test_keygen_dir_outside_project(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "keys"

    result = runner.invoke(app, ["keygen", str(project), "--dir", str(outside)])

    assert result.exit_code == 0
    assert (outside / "signing.key").is_file()
    assert f"VPM_SIGNING_KEY_DIR={outside}" in result.stdout
    assert not (project / ".vpm").exists()


def test_verify_keys_outside_project(signed: Path, tmp_path: Path) -> None:
    trusted = tmp_path / "trusted"
    shutil.copytree(signed / ".vpm" / "prov" / "keys" / "keyring", trusted / "keyring")

    result = runner.invoke(app, ["verify", str(signed), "--keys", str(trusted)])

    assert result.exit_code == 0
    assert f"Keyring: {trusted / 'keyring'}" in result.stdout
    assert result.stdout.rstrip().endswith("Valid.")


def test_verify_keys_without_keyring(signed: Path, tmp_path: Path) -> None:
    typo = tmp_path / "trusted-typo"

    result = runner.invoke(app, ["verify", str(signed), "--keys", str(typo)])

    assert result.exit_code == 2
    assert f"--keys {typo} has no keyring/ folder" in result.stderr


def test_trusted_keyring_catches_replaced_keys(signed: Path, tmp_path: Path) -> None:
    trusted = tmp_path / "trusted"
    keys = signed / ".vpm" / "prov" / "keys"
    shutil.copytree(keys / "keyring", trusted / "keyring")
    # Anyone who can write the ledger can also replace the keyring beside
    # it, then re-sign every record with a key of their own.
    shutil.rmtree(keys)
    runner.invoke(app, ["keygen", str(signed)])
    intruder = load_signer(keys)
    ledger = ledger_of(signed)
    ledger.unlink()
    write_cycles(signed / ".vpm", 2, intruder)

    beside = runner.invoke(app, ["verify", str(signed)])
    trusted_run = runner.invoke(app, ["verify", str(signed), "--keys", str(trusted)])

    assert beside.exit_code == 0
    assert trusted_run.exit_code == 1
    assert "line 1, seq 1: unknown-key:" in trusted_run.stdout


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


def test_verify_rejects_unsigned_tail(signed: Path) -> None:
    lines = read_ledger_lines(ledger_of(signed))
    write_ledger_lines(ledger_of(signed), lines[:RECORDS_PER_CYCLE])
    write_cycles(signed / ".vpm", 1, None)

    result = runner.invoke(app, ["verify", str(signed)])

    assert result.exit_code == 1
    assert "line 5, seq 5: unsigned-after-signed:" in result.stdout
    assert "Invalid: 4 breaks." in result.stdout


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


def test_export_writes_outside_project(signed: Path, tmp_path: Path) -> None:
    target = tmp_path / "exports" / "prov.json"
    target.parent.mkdir()

    result = runner.invoke(app, ["export", str(signed), "-o", str(target)])

    assert result.exit_code == 0
    assert ProvDocument.deserialize(source=target, format="json").records


@pytest.mark.parametrize(
    "relative",
    [
        ".vpm/prov.json",
        ".vpm/prov/ledger.jsonl",
        ".vpm/prov/keys/signing.key",
        ".vpm/prov/keys/keyring/new.pub",
    ],
)
@pytest.mark.parametrize("force", [False, True])
def test_export_into_data_folder_rejected(
    signed: Path, relative: str, force: bool
) -> None:
    target = signed / relative
    before = target.read_bytes() if target.exists() else None
    ledger_before = ledger_of(signed).read_bytes()
    options = ["--force"] if force else []

    result = runner.invoke(app, ["export", str(signed), "-o", str(target), *options])

    assert result.exit_code == 2
    assert str(target) in result.stderr
    assert "data folder" in result.stderr
    assert (target.read_bytes() if target.exists() else None) == before
    assert ledger_of(signed).read_bytes() == ledger_before


def test_export_symlink_into_data_folder_rejected(signed: Path) -> None:
    link = signed / "export.json"
    link.symlink_to(ledger_of(signed))
    ledger_before = ledger_of(signed).read_bytes()

    result = runner.invoke(app, ["export", str(signed), "-o", str(link), "--force"])

    assert result.exit_code == 2
    assert "data folder" in result.stderr
    assert ledger_of(signed).read_bytes() == ledger_before


def test_export_data_folder_of_out_rejected(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_cycles(out / ".vpm", 1, None)
    target = out / ".vpm" / "prov.json"

    result = runner.invoke(
        app, ["export", str(project), "--out", str(out), "-o", str(target)]
    )

    assert result.exit_code == 2
    assert "data folder" in result.stderr
    assert not target.exists()


def test_export_existing_file_needs_force(signed: Path) -> None:
    target = signed / "prov.json"
    target.write_text("keep me\n", encoding="utf-8")

    without_force = runner.invoke(app, ["export", str(signed), "-o", str(target)])
    content_after = target.read_text(encoding="utf-8")
    forced = runner.invoke(app, ["export", str(signed), "-o", str(target), "--force"])

    assert without_force.exit_code == 2
    assert f"{target} already exists" in without_force.stderr
    assert "--force" in without_force.stderr
    assert content_after == "keep me\n"
    assert forced.exit_code == 0
    assert ProvDocument.deserialize(source=target, format="json").records
    assert [p.name for p in signed.iterdir() if p.name.endswith(".tmp")] == []


def test_export_checks_file_before_ledger(project: Path) -> None:
    target = project / "prov.json"
    target.write_text("keep me\n", encoding="utf-8")

    result = runner.invoke(app, ["export", str(project), "-o", str(target)])

    assert result.exit_code == 2
    assert f"{target} already exists" in result.stderr
    assert "No provenance ledger" not in result.stderr


def test_write_export_never_overwrites_racing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file that appears after the early check must still be kept.
    target = tmp_path / "prov.json"
    monkeypatch.setattr(export_module, "check_export_path", lambda *_, **__: None)
    target.write_text("keep me\n", encoding="utf-8")

    with pytest.raises(ExportFileExists, match="already exists"):
        export_module.write_export(target, "{}")

    assert target.read_text(encoding="utf-8") == "keep me\n"


def test_export_to_folder_rejected(signed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()

    result = runner.invoke(app, ["export", str(signed), "-o", str(folder), "--force"])

    assert result.exit_code == 2
    assert f"{folder} is a folder" in result.stderr
    assert folder.is_dir()


def test_export_error_names_output_path(signed: Path) -> None:
    target = signed / "missing" / "prov.json"

    result = runner.invoke(app, ["export", str(signed), "-o", str(target)])

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Could not write {target}: ")
    assert ".tmp" not in result.stderr


def test_export_names_unloadable_document(signed: Path) -> None:
    lines = read_ledger_lines(ledger_of(signed))
    lines[1] = edit_line(lines[1], document={"entity": 5})
    write_ledger_lines(ledger_of(signed), lines)

    result = runner.invoke(app, ["export", str(signed)])

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Record seq 2 (t1/finding/F-1)")
    assert "prov cannot load" in result.stderr
