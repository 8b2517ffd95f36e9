"""Real git repositories in a temporary folder, for the evidence commands' tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from typer.testing import CliRunner

from vpm.cli import app

runner = CliRunner()


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    """Run git in `repo` and return its stripped standard output."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def init_repo(path: Path) -> Path:
    """Create an empty repository on branch main with a local identity."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test Author")
    git(path, "config", "user.email", "author@example.com")
    git(path, "config", "commit.gpgsign", "false")
    git(path, "config", "tag.gpgsign", "false")
    return path


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    """Write `files`, commit everything and return the new commit id."""
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def evidence_body(*lines: str, before: str = "Summary of the change.\n") -> str:
    """Return a PR body with an evidence block of `lines`."""
    return before + "\n```evidence\n" + "\n".join(lines) + "\n```\n"


def invoke(*args: str, stdin: str | None = None):
    """Run `vpm ARGS...` in-process and return the click result."""
    return runner.invoke(app, list(args), input=stdin)
