"""PROV documents built for a cycle and its decisions, and their round trips."""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prov.model import ProvDocument
from pydantic import ValidationError

from prov_helpers import T0, make_cycle, sha
from vpm.errors import PathOutsideProject
from vpm.prov import (
    CycleProvenance,
    Decision,
    FileDigest,
    RoleActivity,
    build_cycle_document,
    build_decision_document,
    digest_file,
    merge_documents,
    record_cycle,
)
from vpm.prov.document import VPM
from vpm.prov.export import load_document


def attribute(document: ProvDocument, identifier: str, name: str) -> set[object]:
    (record,) = document.get_record(identifier)
    return set(record.get_attribute(VPM[name]))


def test_cycle_inputs_carry_sha256() -> None:
    document = build_cycle_document(make_cycle())

    entities = [r for r in document.get_records() if r.get_type().localpart == "Entity"]
    hashes = {next(iter(r.get_attribute(VPM["sha256"]))) for r in entities}

    assert sha("state") in hashes
    assert sha("chat") in hashes
    assert sha("digest") in hashes


def test_run_records_engine_and_fallback() -> None:
    cycle = make_cycle()
    cycle.activities[2] = RoleActivity(
        role="planner",
        started_at=T0,
        finished_at=T0,
        engine="offline",
        fallback=True,
        reason="timeout",
    )

    document = build_cycle_document(cycle)

    assert attribute(document, "vpm:run.t1.planner", "engine") == {"offline"}
    assert attribute(document, "vpm:run.t1.planner", "fallback") == {True}
    assert attribute(document, "vpm:run.t1.planner", "reason") == {"timeout"}


def test_agents_carry_workload_id() -> None:
    spiffe = "spiffe://example.org/vpm/planner"

    document = build_cycle_document(make_cycle(workload_id=spiffe))

    agents = [r for r in document.get_records() if r.get_type().localpart == "Agent"]
    workloads = {next(iter(a.get_attribute(VPM["workloadId"]))) for a in agents}
    assert workloads == {spiffe}
    assert len(agents) == 6


def test_agents_without_workload_id() -> None:
    document = build_cycle_document(make_cycle())

    agents = [r for r in document.get_records() if r.get_type().localpart == "Agent"]

    assert all(not a.get_attribute(VPM["workloadId"]) for a in agents)


def test_role_workload_id_overrides_cycle() -> None:
    cycle = make_cycle(workload_id="spiffe://example.org/vpm")
    cycle.activities[0].workload_id = "spiffe://example.org/vpm/watcher"

    document = build_cycle_document(cycle)

    agents = {
        str(a.identifier): next(iter(a.get_attribute(VPM["workloadId"])))
        for a in document.get_records()
        if a.get_type().localpart == "Agent"
    }
    watcher = [k for k in agents if k.startswith("vpm:agent.watcher")]
    assert agents[watcher[0]] == "spiffe://example.org/vpm/watcher"


def test_decision_links_inputs_and_outputs() -> None:
    cycle = make_cycle()
    patch = cycle.decisions[2]

    document = build_decision_document(cycle, patch)

    provn = document.get_provn()
    assert "wasGeneratedBy(vpm:state-patch.t1.P-1, vpm:run.t1.synthesizer" in provn
    assert "wasDerivedFrom(vpm:state-patch.t1.P-1, vpm:file." in provn
    assert "used(vpm:run.t1.synthesizer, vpm:file." in provn
    assert attribute(document, "vpm:state-patch.t1.P-1", "summary") == {
        "Mark M2 as blocked."
    }


def decision_name(document: ProvDocument) -> str:
    (entity,) = [
        r for r in document.get_records() if r.get_attribute(VPM["decisionId"])
    ]
    return entity.identifier.localpart


def test_unsafe_ids_become_distinct_safe_names() -> None:
    cycle = make_cycle(trace_id="trace 1/a")
    cycle.decisions[0].id = "a b"
    cycle.decisions[1].kind = "finding"
    cycle.decisions[1].id = "a_b"

    first = decision_name(build_decision_document(cycle, cycle.decisions[0]))
    second = decision_name(build_decision_document(cycle, cycle.decisions[1]))

    assert re.fullmatch(r"[A-Za-z0-9_.-]+", first)
    assert first.startswith("finding.trace_1_a-")
    assert first != second


@pytest.mark.parametrize("fmt", ["json", "jsonld", "provn"])
def test_record_documents_round_trip(tmp_path: Path, fmt: str) -> None:
    records = record_cycle(tmp_path, make_cycle())
    merged = merge_documents(records)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = merged.get_provn() if fmt == "provn" else merged.serialize(format=fmt)
        loaded = ProvDocument.deserialize(content=text, format=fmt)

    assert loaded == merged


def test_each_record_document_loads_back(tmp_path: Path) -> None:
    cycle = make_cycle()

    records = record_cycle(tmp_path, cycle)

    assert load_document(records[0]) == build_cycle_document(cycle)
    for record, decision in zip(records[1:], cycle.decisions, strict=True):
        assert load_document(record) == build_decision_document(cycle, decision)


def test_merge_deduplicates_shared_elements(tmp_path: Path) -> None:
    records = record_cycle(tmp_path, make_cycle())

    merged = merge_documents(records)

    identifiers = [str(r.identifier) for r in merged.records if r.identifier]
    assert identifiers.count("vpm:run.t1.planner") == 1
    assert len(merged.records) == len(set(merged.records))


def test_decision_unknown_role_rejected() -> None:
    cycle = make_cycle().model_dump()
    cycle["decisions"][0]["role"] = "oracle"

    with pytest.raises(ValidationError, match="role 'oracle'.*no activity"):
        CycleProvenance.model_validate(cycle)


def test_file_with_unknown_role_is_rejected() -> None:
    cycle = make_cycle().model_dump()
    cycle["inputs"][0]["role"] = "oracle"

    with pytest.raises(ValidationError, match="file 'STATE/current_state.md'"):
        CycleProvenance.model_validate(cycle)


def test_cycle_ending_before_start_is_rejected() -> None:
    with pytest.raises(ValidationError, match="finished .* before it started"):
        CycleProvenance(
            trace_id="t1", started_at=T0, finished_at=T0 - timedelta(seconds=1)
        )


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        CycleProvenance(
            trace_id="t1",
            started_at=datetime(2024, 5, 1, 9, 0),
            finished_at=datetime(2024, 5, 1, 9, 1),
        )


def test_duplicate_decision_is_rejected() -> None:
    cycle = make_cycle().model_dump()
    cycle["decisions"].append(cycle["decisions"][0])

    with pytest.raises(ValidationError, match="duplicate decision"):
        CycleProvenance.model_validate(cycle)


def test_bad_sha256_is_rejected() -> None:
    with pytest.raises(ValidationError, match="sha256"):
        FileDigest(path="a.md", sha256="ABC")


def test_decision_needs_known_kind() -> None:
    with pytest.raises(ValidationError, match="kind"):
        Decision(kind="guess", id="x", role="planner", summary="")  # type: ignore[arg-type]


def test_digest_file_hashes_project_file(tmp_path: Path) -> None:
    (tmp_path / "STATE").mkdir()
    (tmp_path / "STATE" / "current_state.md").write_text("state", encoding="utf-8")

    digest = digest_file(tmp_path, tmp_path / "STATE" / "current_state.md", "planner")

    assert digest.path == "STATE/current_state.md"
    assert digest.sha256 == sha("state")
    assert digest.role == "planner"


def test_digest_file_rejects_outside_path(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "secret.txt").write_text("x", encoding="utf-8")

    with pytest.raises(PathOutsideProject, match="outside the project"):
        digest_file(project, project / ".." / "secret.txt")
