"""The CI examples parse as YAML and run only commands the CLI has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
import yaml

from evidence_helpers import commit, evidence_body, git, init_repo, invoke
from vpm.cli import app
from vpm.evidence.dod import read_policy

CI = Path(__file__).resolve().parents[1] / "examples" / "ci"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")


def load(name: str):
    return yaml.safe_load((CI / name).read_text(encoding="utf-8"))


def workflow_steps() -> list[dict]:
    workflow = load("github-workflow.yml")
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def vpm_commands() -> list[list[str]]:
    """Every `vpm ...` command line of both files, split into words."""
    lines = [step["run"] for step in workflow_steps() if "run" in step]
    lines += [hook["entry"] for hook in load("pre-commit-hooks.yaml")]
    commands = []
    for line in lines:
        for part in line.split("\n"):
            words = shlex.split(part)
            if words and words[0] == "vpm":
                commands.append(words[1:])
    return commands


def resolve(words: list[str]) -> tuple[typer.core.TyperCommand, list[str]]:
    """Walk the CLI's command groups; return the command and the other words."""
    command = typer.main.get_command(app)
    rest = list(words)
    while isinstance(command, typer.core.TyperGroup) and rest:
        name = rest.pop(0)
        assert name in command.commands, f"vpm has no command {name!r}"
        command = command.commands[name]
    return command, rest


def test_workflow_triggers_on_pull_requests() -> None:
    workflow = load("github-workflow.yml")

    # PyYAML reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers
    assert workflow["permissions"] == {"contents": "read"}


def test_workflow_pins_actions_by_commit() -> None:
    uses = [step["uses"] for step in workflow_steps() if "uses" in step]

    assert uses
    for action in uses:
        assert PINNED.match(action), f"{action} is not pinned by a full commit sha"


def test_workflow_fetches_history_for_git_diff() -> None:
    checkout = next(s for s in workflow_steps() if "checkout" in s.get("uses", ""))

    assert checkout["with"]["fetch-depth"] == 0


def test_workflow_keeps_body_out_of_scripts() -> None:
    for step in workflow_steps():
        assert "github.event" not in step.get("run", "")


def test_ci_examples_run_both_checks() -> None:
    commands = [tuple(words[:2]) for words in vpm_commands()]

    assert commands.count(("evidence", "check")) == 2
    assert commands.count(("evidence", "dod")) == 2


@pytest.mark.parametrize("words", vpm_commands(), ids=" ".join)
def test_ci_commands_exist_in_cli(words: list[str]) -> None:
    command, rest = resolve(words)

    options = {name for param in command.params for name in param.opts}
    used = [word.split("=")[0] for word in rest if word.startswith("--")]
    assert isinstance(command, typer.core.TyperCommand)
    for option in used:
        assert option in options, f"vpm {' '.join(words[:2])} has no {option}"


def test_hooks_are_commit_msg_stage() -> None:
    for hook in load("pre-commit-hooks.yaml"):
        assert hook["stages"] == ["commit-msg"]
        assert hook["language"] == "python"
        assert {"id", "name", "entry"} <= hook.keys()


def test_hook_entry_reads_message_file_argument(tmp_path: Path) -> None:
    # pre-commit runs ENTRY MESSAGE_FILE; this replays it on a real repo.
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"README.md": "x\n"}, "base")
    (repo / "reports").mkdir()
    (repo / "reports" / "run.md").write_text("ok\n", encoding="utf-8")
    git(repo, "add", "reports/run.md")
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text(evidence_body("reports/run.md"), encoding="utf-8")
    entry = load("pre-commit-hooks.yaml")[0]["entry"]

    result = invoke(*shlex.split(entry)[1:], "--repo", str(repo), str(message))

    assert result.exit_code == 0


def test_example_dod_policy_loads_and_checks(tmp_path: Path) -> None:
    policy = read_policy(CI / "dod.yml")
    ticked = "\n".join(f"- [x] {item}" for item in policy.required)
    body = tmp_path / "body.md"
    body.write_text(f"## Definition of done\n{ticked}\n", encoding="utf-8")

    result = invoke(
        "evidence", "dod", "--body", str(body), "--policy", str(CI / "dod.yml")
    )

    assert len(policy.required) == 3
    assert result.exit_code == 0
