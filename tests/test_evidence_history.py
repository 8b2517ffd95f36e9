"""`vpm evidence check` against the real history of the corpus project.

Every corpus commit is replayed into a git repository in a temporary
folder: one commit per corpus commit, touching the same paths (files get
placeholder content, deletions are deleted). Each commit's message then
serves as a PR body whose evidence block lists the `reports/` paths the
message mentions, and the check compares them with what the commit really
changed.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from evidence_helpers import init_repo
from vpm.evidence.prcheck import check_pull_request

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "vpm-mini"
REPORT_MENTION = re.compile(r"reports/[A-Za-z0-9_.*/-]+")


def read_commits(corpus: Path) -> list[dict]:
    lines = (corpus / "commits.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def fast_import_stream(commits: list[dict]) -> bytes:
    """Build a `git fast-import` stream: a linear history, one commit each."""
    out: list[bytes] = []
    for number, item in enumerate(commits, start=1):
        when = datetime.fromisoformat(item["date"])
        offset = when.strftime("%z") or "+0000"
        stamp = f"{int(when.timestamp())} {offset}"
        message = (item["subject"] + "\n\n" + item["body"]).encode("utf-8")
        out.append(f"commit refs/heads/main\nmark :{number}\n".encode())
        out.append(f"committer Corpus <corpus@example.com> {stamp}\n".encode())
        out.append(f"data {len(message)}\n".encode() + message + b"\n")
        if number > 1:
            out.append(f"from :{number - 1}\n".encode())
        for change in item["changes"]:
            out.append(_file_command(change, item["commit"]))
    return b"".join(out)


def _file_command(change: dict, commit: str) -> bytes:
    path = change["path"]
    if change["status"].startswith("D"):
        return f"D {path}\n".encode()
    content = f"placeholder for {path} at {commit[:12]}\n".encode()
    return f"M 100644 inline {path}\ndata {len(content)}\n".encode() + content + b"\n"


@pytest.fixture(scope="module")
def commits() -> list[dict]:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS}; it must sit beside the repo")
    return read_commits(CORPUS)


@pytest.fixture(scope="module")
def history(
    tmp_path_factory: pytest.TempPathFactory, commits: list[dict]
) -> tuple[Path, dict[str, str]]:
    """The replayed repository and a map from corpus commit to replayed commit."""
    root = init_repo(tmp_path_factory.mktemp("history") / "repo")
    marks = root / ".git" / "marks"
    subprocess.run(
        ["git", "-C", str(root), "fast-import", "--quiet", f"--export-marks={marks}"],
        input=fast_import_stream(commits),
        check=True,
    )
    replayed = dict(line.split() for line in marks.read_text().splitlines())
    mapping = {
        item["commit"]: replayed[f":{number}"]
        for number, item in enumerate(commits, start=1)
    }
    return root, mapping


def claimed_reports(message: str) -> list[str]:
    """The `reports/` paths a commit message mentions, in order, once each."""
    found: list[str] = []
    for match in REPORT_MENTION.finditer(message):
        path = match.group(0).rstrip(".")
        if path not in found:
            found.append(path)
    return found


def check_commit(history, corpus_commit: str, message: str):
    root, mapping = history
    head = mapping[corpus_commit]
    body = "```evidence\n" + "\n".join(claimed_reports(message)) + "\n```\n"
    return check_pull_request(root, body, f"{head}~1", head, require_evidence=True)


def corpus_message(commits: list[dict], prefix: str) -> tuple[str, str]:
    item = next(c for c in commits if c["commit"].startswith(prefix))
    return item["commit"], item["subject"] + "\n\n" + item["body"]


def outcome(result) -> list[tuple[str, str | None]]:
    return [(issue.kind, issue.path) for issue in result.issues]


def test_history_report_added_by_commit_passes(history, commits) -> None:
    # The P3-3 latency-injection commit cites the one report it adds.
    sha, message = corpus_message(commits, "753e75a1")

    result = check_commit(history, sha, message)

    assert claimed_reports(message) == [
        "reports/p3_3_latency_inject_20250909_035930.md"
    ]
    assert result.passed


def test_history_state_update_cites_older_report(history, commits) -> None:
    # The next commit records P3-3 as GREEN citing the same report, but it
    # only adds a state-update report: the cited one is from the commit before.
    sha, message = corpus_message(commits, "9241391e")

    result = check_commit(history, sha, message)

    assert outcome(result) == [
        ("not-in-diff", "reports/p3_3_latency_inject_20250909_035930.md"),
        ("unlisted-report", "reports/p3_3_state_update_20250909_040326.md"),
    ]


def test_history_glob_claim_matches_added_reports(history, commits) -> None:
    # The P4 preflight commit cites a glob that matches the 5 reports it adds.
    sha, message = corpus_message(commits, "86aaa68e")

    result = check_commit(history, sha, message)

    assert claimed_reports(message) == ["reports/p4_0_preflight_*.md"]
    assert result.passed
    assert len(result.entries[0].changed) == 5


def test_history_exit_snapshot_lists_its_evidence(history, commits) -> None:
    # The Phase 5 exit snapshot names 5 evidence files, all added by it, but
    # it also adds an exit result and a snapshot report it does not name.
    sha, message = corpus_message(commits, "86f6f963")

    result = check_commit(history, sha, message)

    assert len(claimed_reports(message)) == 5
    assert outcome(result) == [
        ("unlisted-report", "reports/phase5_exit_result.json"),
        ("unlisted-report", "reports/snap_phase5-complete.md"),
        ("unlisted-report", "reports/templates/phase5_exit_checklist.md.tmpl"),
    ]


def test_history_failover_commit_cites_other_milestone(history, commits) -> None:
    # The P5-5 failover commit's message repeats the P5-4 text: it cites the
    # ApplicationSet report and template, which it does not touch.
    sha, message = corpus_message(commits, "24511610")

    result = check_commit(history, sha, message)

    assert ("not-in-diff", "reports/phase5_appset_verify.json") in outcome(result)
    assert (
        "not-in-diff",
        "reports/templates/phase5_appset_report.md.tmpl",
    ) in outcome(result)
    assert ("unlisted-report", "reports/snap_phase5-5-failover.md") in outcome(result)


def test_history_empty_commit_fails_every_claim(history, commits) -> None:
    # The P5-6 verification-system commit changes no file at all.
    sha, message = corpus_message(commits, "21c500c3")

    result = check_commit(history, sha, message)

    assert result.changed == []
    assert result.issues
    assert {issue.kind for issue in result.issues} == {"not-in-diff"}


def test_history_missing_proof_reports_flagged(history, commits) -> None:
    # The Phase 0 sanity commit promises proof in reports/phase0_sanity_*,
    # and the CD report commit names reports/cd_multicluster_result.json;
    # no commit up to then ever added either.
    sanity_sha, sanity_message = corpus_message(commits, "154b73d5")
    cd_sha, cd_message = corpus_message(commits, "e8b639ab")

    sanity = check_commit(history, sanity_sha, sanity_message)
    cd = check_commit(history, cd_sha, cd_message)

    assert outcome(sanity) == [("missing", "reports/phase0_sanity_*")]
    assert ("missing", "reports/cd_multicluster_result.json") in outcome(cd)


def test_history_sweep_flags_known_commits(history, commits) -> None:
    # Of the 23 commits whose message mentions a reports/ path, these 7 cite
    # a path the commit does not change or that does not exist. b52a9cf6
    # names `reports/**` while describing a rebase rule, not as evidence.
    root, mapping = history
    flagged = set()
    mentioning = 0

    for item in commits:
        message = item["subject"] + "\n\n" + item["body"]
        claims = claimed_reports(message)
        if not claims:
            continue
        mentioning += 1
        head = mapping[item["commit"]]
        body = "```evidence\n" + "\n".join(claims) + "\n```\n"
        if not check_pull_request(root, body, f"{head}~1", head).passed:
            flagged.add(item["commit"][:8])

    assert mentioning == 23
    assert flagged == {
        "b52a9cf6",
        "4d84ca56",
        "24511610",
        "21c500c3",
        "e8b639ab",
        "154b73d5",
        "9241391e",
    }
