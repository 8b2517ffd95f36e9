"""Errors of the evidence and governance commands.

Every class here is a `UserError`: the user can fix the input, option or
repository state named in the message. A git command that fails for
another reason is a `GitFailed`, a run-time failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from vpm.errors import UserError, VpmError

ModelT = TypeVar("ModelT", bound=BaseModel)


class NotAGitRepository(UserError):
    """The folder is not the top level of a git work tree."""


class UnknownRevision(UserError):
    """A git ref given on the command line names no commit."""


class GitFailed(VpmError):
    """A git command exited with an error the user did not cause."""


class InvalidBody(UserError):
    """The pull request body cannot be read."""


class InvalidPolicy(UserError):
    """The definition-of-done policy file is missing or malformed."""


class DeployFrozen(UserError):
    """The deploy freeze is on, so deploying or applying is not allowed."""


class InvalidFreezeFile(UserError):
    """The deploy freeze file exists but cannot be read or rewritten safely."""


class InvalidName(UserError):
    """A trial name or tag name cannot be used as a file or ref name."""


class TrialError(UserError):
    """A trial cannot be started or closed as requested."""


class SnapshotError(UserError):
    """A snapshot cannot be taken as requested."""


def first_problem(exc: Exception) -> str:
    """Describe the first problem of a JSON or validation error on one line.

    A pydantic `ValidationError` spans several lines per field, and error
    messages of the evidence commands are one line each.
    """
    if isinstance(exc, ValidationError):
        problems = exc.errors()
        error = problems[0]
        where = ".".join(str(part) for part in error["loc"]) or "the top level"
        more = len(problems) - 1
        extra = f", and {more} more problem{'s' if more != 1 else ''}" if more else ""
        return f"{where}: {error['msg']}{extra}"
    return " ".join(str(exc).split())


def read_json_model(
    path: Path, model: type[ModelT], error: type[UserError], kind: str
) -> ModelT:
    """Read a JSON book of vpm's data folder; an absent file is an empty book.

    Raises:
        error: The file is not valid JSON or not in the model's shape; the
            message names the file and its first problem.
    """
    if not path.is_file():
        return model()
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
        raise error(
            f"{path} is not a valid {kind} file ({first_problem(exc)}); fix "
            "or move it aside."
        ) from exc
