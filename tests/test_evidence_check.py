"""Checks of cited evidence: path safety, globs, closest match, contradictions."""

from __future__ import annotations

import json
import os
import pathlib
from pathlib import Path

import pytest

from vpm.errors import PathOutsideProject
from vpm.state.evidence import (
    EvidenceCheck,
    check_citation,
    clean_citation,
    findings_for_claim,
    resolve_citation,
)
from vpm.state.evidence_rules import REASONS

SENTINEL = "SENTINEL-7f3a-do-not-read"


def write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def reasons(check: EvidenceCheck) -> list[str]:
    return [item.reason for item in check.contradictions]


def scan(tmp_path: Path, name: str, content: str) -> EvidenceCheck:
    project = tmp_path / "project"
    write(project, f"reports/{name}", content)
    return check_citation(project, f"reports/{name}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(root, "reports/ok.md", "# Smoke\n- result: 12/12 passed\n")
    write(tmp_path / "outside", "secret.txt", f"{SENTINEL}\nstatus: 500\n")
    return root


@pytest.fixture
def touched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every path that is stat'ed, listed, read or link-read."""
    seen: list[str] = []

    def spy(original):
        def wrapper(self, *args, **kwargs):
            seen.append(str(self))
            return original(self, *args, **kwargs)

        return wrapper

    for name in ("stat", "lstat", "read_bytes", "read_text", "open"):
        monkeypatch.setattr(pathlib.Path, name, spy(getattr(pathlib.Path, name)))
    for name in ("scandir", "readlink", "stat", "lstat"):
        original = getattr(os, name)

        def os_wrapper(path, *args, _original=original, **kwargs):
            seen.append(str(path))
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(os, name, os_wrapper)
    return seen


# cleaning


@pytest.mark.parametrize(
    ("cited", "expected"),
    [
        ("`reports/a.md`", "reports/a.md"),
        ("reports/a.md、", "reports/a.md"),
        ("reports/a.md。", "reports/a.md"),
        ("reports/a.md）", "reports/a.md"),
        ("reports/a.md),", "reports/a.md"),
        ("reports/a.md;", "reports/a.md"),
        ("reports/a.md#results", "reports/a.md"),
        ("reports/a.md:12", "reports/a.md"),
        ("`reports/a.md#L10-L14`、", "reports/a.md"),
        ("reports/a.md:L3", "reports/a.md"),
        ("[the report](reports/a.md)", "reports/a.md"),
        ("reports\\a.md", "reports/a.md"),
        ("reports/prov_*.jsonld", "reports/prov_*.jsonld"),
    ],
)
def test_clean_citation_strips_decorations(cited: str, expected: str) -> None:
    assert clean_citation(cited) == expected


# resolving and path safety


def test_resolve_citation_relative_path(project: Path) -> None:
    resolved = resolve_citation(project, "`reports/ok.md`、")

    assert resolved == (project / "reports/ok.md").resolve()


def test_resolve_citation_dotdot_inside_project(project: Path) -> None:
    resolved = resolve_citation(project, "reports/../reports/ok.md")

    assert resolved == (project / "reports/ok.md").resolve()


@pytest.mark.parametrize(
    "cited",
    ["../../etc/passwd", "../outside/secret.txt", "reports/../../outside/secret.txt"],
)
def test_resolve_citation_traversal_raises(project: Path, cited: str) -> None:
    with pytest.raises(PathOutsideProject, match="outside the project"):
        resolve_citation(project, cited)


@pytest.mark.parametrize("cited", ["/etc/passwd", "~/secret.txt", "C:/Windows/x.md"])
def test_resolve_citation_absolute_raises(project: Path, cited: str) -> None:
    with pytest.raises(PathOutsideProject, match="absolute"):
        resolve_citation(project, cited)


def test_resolve_citation_symlink_escape_raises(project: Path) -> None:
    outside = project.parent / "outside" / "secret.txt"
    (project / "reports" / "link.md").symlink_to(outside)

    with pytest.raises(PathOutsideProject):
        resolve_citation(project, "reports/link.md")


def test_resolve_citation_relative_symlink_escape_raises(project: Path) -> None:
    (project / "reports" / "up").symlink_to("../../outside")

    with pytest.raises(PathOutsideProject):
        resolve_citation(project, "reports/up/secret.txt")


def test_resolve_citation_symlink_inside_followed(project: Path) -> None:
    (project / "latest.md").symlink_to("reports/ok.md")

    resolved = resolve_citation(project, "latest.md")

    assert resolved == (project / "reports/ok.md").resolve()


def test_check_traversal_never_touches_outside(
    project: Path, touched: list[str]
) -> None:
    outside = str(project.parent / "outside")

    check = check_citation(project, "../../outside/secret.txt")

    assert check.invalid is not None
    assert touched, "the spy recorded nothing"
    assert not [path for path in touched if path.startswith(outside)]
    assert SENTINEL not in check.model_dump_json()


def test_check_symlink_escape_never_reads_target(
    project: Path, touched: list[str]
) -> None:
    outside = str(project.parent / "outside")
    (project / "reports" / "link.md").symlink_to(Path(outside) / "secret.txt")
    (project / "reports" / "dir").symlink_to(outside)

    file_check = check_citation(project, "reports/link.md")
    dir_check = check_citation(project, "reports/dir/secret.txt")

    assert file_check.invalid is not None
    assert dir_check.invalid is not None
    assert any(path.startswith(str(project)) for path in touched)
    assert not [path for path in touched if path.startswith(outside)]
    assert SENTINEL not in file_check.model_dump_json()


def test_check_glob_skips_escaping_link(project: Path, touched: list[str]) -> None:
    outside = str(project.parent / "outside")
    (project / "reports" / "link.md").symlink_to(Path(outside) / "secret.txt")

    check = check_citation(project, "reports/*.md")

    assert check.files == ["reports/ok.md"]
    assert check.contradictions == []
    assert not [path for path in touched if path.startswith(outside)]


def test_check_symlink_loop_is_invalid(project: Path) -> None:
    (project / "reports" / "a.md").symlink_to("b.md")
    (project / "reports" / "b.md").symlink_to("a.md")

    check = check_citation(project, "reports/a.md")

    assert check.invalid is not None
    assert "loop" in check.invalid


def test_check_absolute_path_gives_invalid_citation(project: Path) -> None:
    check = check_citation(project, "/etc/passwd")

    found = findings_for_claim(
        check, claim_path="STATE/s.md", claim_line=3, subject="P1", claims_success=True
    )

    assert [f.kind for f in found] == ["invalid-citation"]
    assert found[0].severity == "error"
    assert "/etc/passwd" in found[0].message
    assert found[0].line == 3


def test_check_empty_citation_is_invalid(project: Path) -> None:
    check = check_citation(project, "``")

    assert check.invalid is not None
    assert check.exists is False


# existence, globs, closest


def test_check_existing_file(project: Path) -> None:
    check = check_citation(project, "`reports/ok.md`")

    assert check.exists is True
    assert check.files == ["reports/ok.md"]
    assert check.contradictions == []


def test_check_folder(project: Path) -> None:
    check = check_citation(project, "reports/")

    assert check.exists is True
    assert check.is_dir is True
    assert check.files == []


def test_check_glob_matches_sorted_without_hidden(project: Path) -> None:
    for name in ("prov_b.jsonld", "prov_a.jsonld", ".prov_hidden.jsonld"):
        write(project, f"reports/{name}", "{}\n")
    write(project, "reports/sub/prov_c.jsonld", '{"ok": true}\n')

    flat = check_citation(project, "reports/prov_*.jsonld")
    deep = check_citation(project, "reports/**/prov_*.jsonld")

    assert flat.is_glob is True
    assert flat.files == ["reports/prov_a.jsonld", "reports/prov_b.jsonld"]
    assert deep.files == [
        "reports/prov_a.jsonld",
        "reports/prov_b.jsonld",
        "reports/sub/prov_c.jsonld",
    ]


def test_check_glob_without_match(project: Path) -> None:
    check = check_citation(project, "reports/trial_*.md")

    found = findings_for_claim(
        check, claim_path="STATE/s.md", claim_line=9, subject=None, claims_success=True
    )

    assert check.exists is False
    assert check.files == []
    assert found[0].kind == "missing-evidence"
    assert "reports/trial_*.md" in found[0].message


def test_check_missing_suggests_closest_in_folder(project: Path) -> None:
    for name in (
        "p5_2_slo_runbook_20250913_060853.md",
        "p5_2_ui_manual_20250915_200244.md",
        "p5_slo_smoke_20250915_103359.md",
        "p2_4_obs_20250913_140653.md",
    ):
        write(project, f"reports/{name}", "# report\n")

    check = check_citation(project, "reports/p5_2_slo_20250913_060915.md")

    assert check.exists is False
    assert check.closest == "reports/p5_2_slo_runbook_20250913_060853.md"


def test_check_missing_prefers_same_kind_over_same_day(project: Path) -> None:
    write(project, "reports/p2_2_openai_proof_20250903_125848.json", "{}\n")
    write(project, "reports/p2_4_obs_20250903_125804.json", "{}\n")

    check = check_citation(project, "reports/p2_2_openai_proof_20250903_125804.json")

    assert check.closest == "reports/p2_2_openai_proof_20250903_125848.json"


def test_check_missing_searches_project_when_folder_missing(project: Path) -> None:
    write(project, "docs/runbooks/hello_slo_runbook.md", "# runbook\n")

    check = check_citation(project, "runbooks/hello_slo_runbook.md")

    assert check.closest == "docs/runbooks/hello_slo_runbook.md"


def test_check_missing_without_similar_file(project: Path) -> None:
    check = check_citation(project, "reports/ksvc_hello_proof_YYYYMMDD.md")

    assert check.exists is False
    assert check.closest is None


def test_missing_finding_names_closest(project: Path) -> None:
    write(project, "reports/p5_2_slo_runbook_20250913_060853.md", "# SLO\n")
    check = check_citation(project, "reports/p5_2_slo_20250913_060915.md")

    found = findings_for_claim(
        check,
        claim_path="STATE/current_state.md",
        claim_line=161,
        subject="P5-2",
        claims_success=True,
    )

    assert len(found) == 1
    assert found[0].kind == "missing-evidence"
    assert found[0].severity == "error"
    assert "reports/p5_2_slo_20250913_060915.md" in found[0].message
    assert "p5_2_slo_runbook_20250913_060853.md" in found[0].message
    assert "p5_2_slo_runbook_20250913_060853.md" in (found[0].suggestion or "")
    assert found[0].location == "STATE/current_state.md:161"


def test_missing_finding_for_open_claim_is_warning(project: Path) -> None:
    check = check_citation(project, "reports/nothing.md")

    found = findings_for_claim(
        check, claim_path="S.md", claim_line=1, subject=None, claims_success=False
    )

    assert found[0].severity == "warning"


# unreadable files


def test_check_binary_file_is_a_problem(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "reports/shot.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

    check = check_citation(project, "reports/shot.png")

    assert check.exists is True
    assert check.contradictions == []
    assert "not UTF-8 text" in check.problems[0].message


def test_check_undecodable_file_is_a_problem(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "reports/latin1.txt", "status: échec FAILED\n".encode("latin-1"))

    check = check_citation(project, "reports/latin1.txt")

    assert check.contradictions == []
    assert check.problems[0].path == "reports/latin1.txt"


def test_check_large_file_not_read(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "reports/big.log", "level=error msg=boom\n" * 100)

    check = check_citation(project, "reports/big.log", max_bytes=1000)

    assert check.contradictions == []
    assert "over the 1000 limit" in check.problems[0].message


# contradiction reasons, one fixture each


@pytest.mark.parametrize(
    ("name", "content", "reason", "line"),
    [
        ("empty.json", "", "empty-file", None),
        ("blank.md", "  \n\n", "empty-file", None),
        ("trail.json", '{"a": 1}\n{"b": 2} # note\n', "invalid-json", 2),
        ("runs.jsonl", '{"a": 1}\n{"b": \n{"c": 3}\n', "invalid-json", 2),
        (
            "hey.md",
            "Status code distribution:\n  [503] 120 responses\n",
            "http-error",
            2,
        ),
        ("code.json", '{\n  "status": 500\n}\n', "http-error", 2),
        ("curl.txt", "HTTP/1.1 503 Service Unavailable\n", "http-error", 1),
        ("prose.md", "- All requests returned 404 status\n", "http-error", 1),
        ("map.json", '{"status_codes": {"200": 2, "502": 9}}\n', "http-error", 1),
        ("t.md", "- call: context deadline exceeded\n", "timeout", 1),
        ("t2.txt", "request timed out after 30s\n", "timeout", 1),
        ("log.txt", 'ts=1 level=error msg="cannot sync"\n', "error", 1),
        ("py.txt", "Traceback (most recent call last):\n", "error", 1),
        ("e.md", "- Last error: connection refused\n", "error", 1),
        ("ok.json", '{"all_ok": false}\n', "failure", 1),
        ("pytest.txt", "===== 3 failed, 10 passed in 2.1s =====\n", "failure", 1),
        ("x.md", "| Digest | ❌ | No pod found |\n", "failure", 1),
        ("ng.md", "**NG**: uncommitted changes exist\n", "failure", 1),
        ("push.md", "- Push: Failed due to registry authentication\n", "failure", 1),
        ("ci.json", '{"validate":"fail"}\n', "failure", 1),
        ("cd.json", '{\n  "conclusion": "failure"\n}\n', "failure", 2),
        ("count.md", "- failed: 2\n", "failure", 1),
        ("k.md", "hello  False  RevisionFailed\n", "not-ready", 1),
        ("k2.txt", "api-0  0/1  CrashLoopBackOff  7\n", "not-ready", 1),
        ("ps.txt", "web-1  Up 2 minutes (unhealthy)\n", "not-ready", 1),
        ("r.md", "- ksvc READY=Unknown\n", "not-ready", 1),
        ("sum.json", '{"summary": {"total": 3, "pass": 2}}\n', "pass-below-total", 1),
        ("pods.md", "- Pods: 1/2 containers ready\n", "pass-below-total", 1),
        ("items.json", '{"items": []}\n', "empty-result", 1),
        ("list.json", "[]\n", "empty-result", 1),
        ("rules.md", "- Status: 0 SLO rules found\n", "empty-result", 1),
        ("series.md", "- series count: 0\n", "empty-result", 1),
        ("na.md", "- p50: NA ms / p95: NA ms\n", "missing-measurement", 1),
        ("wait.md", "| targets up | ⏳ Pending deployment |\n", "unverified", 1),
        (
            "skip.json",
            '{"note": "verification skipped: no cluster"}\n',
            "unverified",
            1,
        ),
        ("sim.md", "Load test (simulated run)\n", "simulated", 1),
        ("mock.md", "## Testing with httpbin (mock)\n", "simulated", 1),
        ("dry.md", "- dry-run: true\n", "simulated", 1),
        ("ja.md", "- 結果: ダミーデータで確認\n", "simulated", 1),
        ("tpl.md", "**Generated**: {{timestamp}}\n", "placeholder", 1),
        ("img.md", "- Image: hello:1.0 (placeholder)\n", "placeholder", 1),
        ("sh.md", "- Timestamp: $(date -u)\n", "placeholder", 1),
        ("slot.md", "- RTO: <rto_sec> sec\n", "placeholder", 1),
        ("todo.md", "- p95: TODO\n", "placeholder", 1),
    ],
)
def test_scan_reports_reason(
    tmp_path: Path, name: str, content: str, reason: str, line: int | None
) -> None:
    check = scan(tmp_path, name, content)

    assert reasons(check)[:1] == [reason]
    assert check.contradictions[0].line == line


def test_scan_reports_merge_conflict_markers(tmp_path: Path) -> None:
    text = "<<<<<<< HEAD\nold\n=======\nnew\n>>>>>>> origin/main\n"

    check = scan(tmp_path, "ps.txt", text)

    assert [(c.reason, c.line) for c in check.contradictions] == [
        ("merge-conflict", 1),
        ("merge-conflict", 3),
        ("merge-conflict", 5),
    ]


def test_scan_invalid_json_quotes_line_and_parser_message(tmp_path: Path) -> None:
    check = scan(tmp_path, "proof.json", '{"text": "Ok"} # pragma: keep\n')

    item = check.contradictions[0]
    assert item.quote == '{"text": "Ok"} # pragma: keep'
    assert item.detail == "text after the JSON value at line 1, column 16"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("stream.json", '{"health": "up"}\n{"health": "up"}\n'),
        ("mostly_ok.json", '{"status_codes": {"200": 5125, "408": 23, "500": 24}}'),
        ("hey_ok.md", "  [200] 9,000 responses\n  [503] 12 responses\n"),
        ("no_timeouts.md", "- No service failures or timeouts observed\n"),
        ("config.json", '{"timeout_s": 2.0, "timeoutSeconds": 300}\n'),
        ("info.txt", 'level=info msg="No pre-existing SVID found"\n'),
        ("warn.txt", 'level=warning msg="slot unusable" error="no key"\n'),
        ("cond.md", "- Guard: rollback when the canary failed\n"),
        ("zero.md", "- failed: 0\n- errors: 0\n"),
        ("fixed.md", "- ImagePullBackOff was fixed by a multi-arch build\n"),
        ("fine.md", "- ESO: 3/3 pods running\n- 12/12 成功\n"),
        ("split.md", "- Canary 90/10 traffic split ready\n"),
        ("good.md", "- Scan: no errors found\n"),
        ("fives.md", '- series(request_count{code=~"5.."}) : 0\n'),
        ("kubectl.md", "svc  LoadBalancer  10.0.0.1  <pending>  80/TCP\n"),
        ("client.md", "- Check: kubectl apply --dry-run=client passed\n"),
        ("nomock.md", "- Real OpenAI call, not mocked\n"),
        ("legend.md", "- Legend: OK/NG per item\n"),
        ("status.json", '{"cases": {"a": {"status": "200"}}}\n'),
    ],
)
def test_scan_ignores_benign_text(tmp_path: Path, name: str, content: str) -> None:
    check = scan(tmp_path, name, content)

    assert check.contradictions == []


@pytest.mark.parametrize(
    "content",
    [
        "# Report\n## Next Steps\n- Fix the failed deploy\n- Replace placeholder\n",
        "# Report\n## Troubleshooting\n| SecretStore not ready | check RBAC |\n",
        "# Report\n```bash\nkubectl logs x || echo FAILED\n```\n",
        "# Report\n## Image Pull Failure\n- Solution: pinned digest\n",
        "# Report\n- [ ] Hello READY=False is fixed\n",
    ],
)
def test_scan_skips_plans_code_and_headings(tmp_path: Path, content: str) -> None:
    check = scan(tmp_path, "r.md", content)

    assert check.contradictions == []


def test_scan_title_does_not_hide_results(tmp_path: Path) -> None:
    content = "# Alerts & Reproducibility Plan\n| Pinning | ❌ | no pod |\n"

    check = scan(tmp_path, "r.md", content)

    assert reasons(check) == ["failure"]


def test_scan_trims_long_quote(tmp_path: Path) -> None:
    check = scan(tmp_path, "log.txt", "level=error msg=" + "x" * 500 + "\n")

    assert len(check.contradictions[0].quote) <= 200


def test_scan_lists_each_repeated_line_once(tmp_path: Path) -> None:
    check = scan(tmp_path, "log.txt", '"health": "down"\n' * 4)

    assert [c.line for c in check.contradictions] == [1]


def test_every_reason_is_described() -> None:
    for code, reason in REASONS.items():
        assert reason.summary, code
        assert reason.severity in ("error", "warning")


# findings


def test_contradiction_findings_only_for_success_claims(tmp_path: Path) -> None:
    check = scan(tmp_path, "hey.md", "Summary:\n  [404] 1,000 responses\n")

    done = findings_for_claim(
        check, claim_path="S.md", claim_line=7, subject="P5-1", claims_success=True
    )
    started = findings_for_claim(
        check, claim_path="S.md", claim_line=7, subject="P5-1", claims_success=False
    )

    assert started == []
    assert len(done) == 1
    finding = done[0]
    assert finding.kind == "evidence-contradicts-claim"
    assert finding.severity == "error"
    assert finding.path == "S.md"
    assert finding.line == 7
    assert finding.subject == "P5-1"
    assert finding.evidence == "reports/hey.md"
    assert finding.evidence_line == 2
    assert finding.quote == "[404] 1,000 responses"
    assert "P5-1" in finding.message
    assert "reports/hey.md" in finding.message


def test_clean_evidence_gives_no_findings(project: Path) -> None:
    check = check_citation(project, "reports/ok.md")

    found = findings_for_claim(
        check, claim_path="S.md", claim_line=1, subject="P1", claims_success=True
    )

    assert found == []


# the real corpus, read in place


def corpus_check(corpus: Path, cited: str) -> EvidenceCheck:
    return check_citation(corpus / "tree", cited)


def test_corpus_autoscale_all_404_contradicts_success(corpus: Path) -> None:
    cited = "reports/p5_1_autoscale_20250913_055540.md"
    check = corpus_check(corpus, cited)

    found = findings_for_claim(
        check,
        claim_path="STATE/current_state.md",
        claim_line=160,
        subject="P5-1",
        claims_success=True,
    )

    hey = [c for c in check.contradictions if c.line == 50]
    assert hey[0].reason == "http-error"
    assert hey[0].quote == "[404] 428,206 responses"
    assert {c.line for c in check.contradictions if c.reason == "http-error"} == {
        50,
        109,
        130,
    }
    assert any(f.evidence_line == 50 and f.quote == hey[0].quote for f in found)


def test_corpus_openai_proof_is_invalid_json(corpus: Path) -> None:
    check = corpus_check(corpus, "reports/p2_2_openai_proof_20250903_125848.json")

    assert reasons(check) == ["invalid-json"]
    assert check.contradictions[0].line == 1
    assert check.contradictions[0].quote.endswith("# pragma: allowlist secret")


def test_corpus_missing_slo_report_suggests_runbook(corpus: Path) -> None:
    check = corpus_check(corpus, "reports/p5_2_slo_20250913_060915.md")

    assert check.exists is False
    assert check.closest == "reports/p5_2_slo_runbook_20250913_060853.md"


def test_corpus_missing_openai_proof_suggests_sibling(corpus: Path) -> None:
    check = corpus_check(corpus, "`reports/p2_2_openai_proof_20250903_125804.json`")

    assert check.closest == "reports/p2_2_openai_proof_20250903_125848.json"


def test_corpus_glob_of_prov_records(corpus: Path) -> None:
    check = corpus_check(corpus, "reports/prov_*.jsonld")

    assert check.files == [
        "reports/prov_p3_2_3_1757201972.jsonld",
        "reports/prov_p3_2_4_1757205840.jsonld",
    ]
    assert check.contradictions == []


@pytest.mark.parametrize(
    ("cited", "reason", "line"),
    [
        ("reports/p2_2_openai_proof_20250903_125734.json", "empty-file", None),
        ("reports/p2_4_obs_20250903_140011.json", "empty-file", None),
        ("reports/p2_3_ci_validate_20250903_134242.json", "failure", 1),
        ("reports/slo_rules_20250915_103359.json", "empty-result", 1),
        ("reports/s3_ps.txt", "merge-conflict", 1),
        ("reports/p2_4_obs_20250903_140522.md", "missing-measurement", 5),
        ("reports/p3_1_guardrails_20250905_033843.md", "timeout", 8),
        ("reports/p4_b_alerts_repro_20250913_035306.md", "failure", 21),
        ("reports/p4_0_preflight_20250909_141040.md", "not-ready", 20),
        ("reports/p5_3_migration_watcher_20250913_062657.md", "placeholder", 6),
        ("reports/p5_3_watcher_finish_20250913_070037.md", "placeholder", 4),
        ("reports/p5_slo_smoke_20250915_103359.md", "empty-result", 5),
        ("reports/phase3_prov_verify.json", "simulated", 3),
        ("reports/phase4_istio_verify.json", "unverified", 22),
        ("reports/p4_2d_notifications_20250909_160853.md", "error", 438),
        ("reports/snap_phase5-5-failover.md", "placeholder", 7),
        ("reports/s5_ps.txt", "not-ready", 3),
        ("reports/cd_runs.ndjson", "failure", 3),
    ],
)
def test_corpus_known_contradiction(
    corpus: Path, cited: str, reason: str, line: int | None
) -> None:
    check = corpus_check(corpus, cited)

    first = check.contradictions[0]
    assert (first.reason, first.line) == (reason, line)


@pytest.mark.parametrize(
    "cited",
    [
        "reports/p2_4_obs_20250903_140653.json",
        "reports/p2_4_obs_20250903_140653.md",
        "reports/p2_5_failpaths_20250903_143833.json",
        "reports/p2_5_failpaths_20250903_143833.md",
        "reports/phase4_load_client.json",
        "reports/phase4_canary_promotion.json",
        "reports/quality.json",
        "reports/s8_prometheus_targets.json",
        "reports/snap_phase1_targets.json",
        "reports/_semantic_seed_enriched.jsonl",
        "reports/p2_1_bootstrap_20250903_045206.md",
        "reports/p3_2_1_spire_min_20250907_044931.md",
        "reports/p4_c_secrets_20250913_051220.md",
        "reports/p4_0_preflight_final_20250909_141441.md",
        "reports/p5_4_secrets_dev_20250915_203051.md",
        "reports/p1_7_json_error_enable_prom_20250908_071416.md",
        "reports/p4_hello_ai_1_0_4_postmortem.md",
        "reports/e2e_human_review.md",
        "reports/trial_tasks/tasks_20250915.jsonl",
    ],
)
def test_corpus_clean_report_has_no_contradiction(corpus: Path, cited: str) -> None:
    check = corpus_check(corpus, cited)

    assert check.exists is True
    assert check.contradictions == []


def test_corpus_every_report_checks_without_crash(corpus: Path) -> None:
    tree = corpus / "tree"
    files = sorted(p for p in (tree / "reports").rglob("*") if p.is_file())

    checks = [check_citation(tree, str(p.relative_to(tree))) for p in files]

    assert len(checks) > 200
    assert all(c.exists and c.invalid is None for c in checks)
    for check in checks:
        lines = (tree / check.path).read_text(encoding="utf-8").split("\n")
        for item in check.contradictions:
            assert item.reason in REASONS
            if item.line is not None:
                assert item.quote == lines[item.line - 1].strip()[:200].rstrip() or (
                    item.quote.endswith("…")
                )


def test_corpus_whole_reports_glob(corpus: Path) -> None:
    check = corpus_check(corpus, "reports/**/*")

    assert len(check.files) == 222
    assert "reports/.p1_dashboard_discovery_raw.json" not in check.files
    assert "reports/trial_tasks/tasks_20250915.jsonl" in check.files
    assert check.problems[-1].message == (
        "The pattern matched 222 files, so the last 22 were not read (at most 200 are)."
    )


def test_corpus_json_reports_parse_as_checked(corpus: Path) -> None:
    # Every .json report that the standard parser accepts must not be
    # reported as invalid JSON, and vice versa for a single document.
    tree = corpus / "tree"
    for path in sorted((tree / "reports").glob("*.json")):
        text = path.read_text(encoding="utf-8")
        check = check_citation(tree, str(path.relative_to(tree)))
        try:
            json.loads(text)
        except json.JSONDecodeError:
            continue
        assert "invalid-json" not in reasons(check), path.name


def test_trailing_double_star_matches_files_below(tmp_path):
    (tmp_path / "reports" / "sub").mkdir(parents=True)
    (tmp_path / "reports" / "a.md").write_text("ok\n", "utf-8")
    (tmp_path / "reports" / "sub" / "b.json").write_text("{}\n", "utf-8")

    check = check_citation(tmp_path, "reports/**")

    assert check.files == ["reports/a.md", "reports/sub/b.json"]
