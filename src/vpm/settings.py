"""Settings from `VPM_*` environment variables and an optional `vpm.toml`.

Precedence, highest first: explicit arguments, environment variables, the
project's `vpm.toml`, the defaults below.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from vpm.errors import UserError

DEFAULT_CHAT_GLOBS = [
    "**/logs/**/*.jsonl",
    "**/chats/**/*.jsonl",
    "**/transcripts/**/*.txt",
    "**/transcripts/**/*.md",
    "**/transcript*.txt",
]
DEFAULT_EVIDENCE_DIRS = ["reports"]
DEFAULT_WATCH_DIRS = ["STATE", ".ops"]


class Settings(BaseSettings):
    """Everything a cycle can be tuned by."""

    model_config = SettingsConfigDict(env_prefix="VPM_", extra="ignore")

    state_file: str = Field(
        default="STATE/current_state.md",
        description="Project-relative path of the state document.",
    )
    chat_globs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CHAT_GLOBS),
        description="Globs (project-relative) that select chat logs.",
    )
    evidence_dirs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVIDENCE_DIRS),
        description="Folders whose files are evidence.",
    )
    watch_dirs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_WATCH_DIRS),
        description="Other folders whose changes are events.",
    )
    window_tokens: int = Field(default=512, ge=16, description="Tokens per window.")
    window_overlap: int = Field(
        default=64, ge=0, description="Tokens shared by neighbouring windows."
    )
    summary_max_chars: int = Field(
        default=400, ge=40, description="Maximum summary length in characters."
    )
    max_event_text_chars: int = Field(
        default=20000, ge=100, description="Text kept per event in the store."
    )
    max_evidence_bytes: int = Field(
        default=2_000_000, ge=1000, description="Larger evidence files are not read."
    )
    git_max_commits: int = Field(
        default=5000, ge=1, description="Commits read on a cold cycle."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; default: SQLite under .vpm/.",
    )
    signing_key_dir: str | None = Field(
        default=None,
        description="Folder of the Ed25519 signing key (from `vpm prov keygen "
        "--dir`) that cycles sign with; default DATA_DIR/prov/keys.",
    )
    workload_id: str | None = Field(
        default=None,
        description="Workload identity of this process, such as a SPIFFE ID, "
        "recorded on the agents of provenance records.",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible API, such as "
        "http://127.0.0.1:8000/v1; unset (with llm_model): the offline engine.",
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="API key for llm_base_url; never logged or stored."
    )
    llm_model: str | None = Field(default=None, description="Model name to request.")
    llm_timeout: float = Field(
        default=30.0, gt=0, description="Seconds one LLM call may take, with retries."
    )
    llm_retries: int = Field(
        default=2, ge=0, description="Retries after an unreachable, 429 or 5xx reply."
    )
    llm_max_tokens: int = Field(
        default=1024, ge=1, description="Maximum tokens the model may write per reply."
    )


def load_settings(project: Path | None = None, **overrides: Any) -> Settings:
    """Build settings, reading `PROJECT/vpm.toml` when it exists.

    Raises:
        UserError: `vpm.toml` is not valid TOML, or a `VPM_*` variable has
            an invalid value.
    """
    file_values: dict[str, Any] = {}
    if project is not None:
        toml_path = project / "vpm.toml"
        if toml_path.is_file():
            file_values = _read_toml(toml_path)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise UserError(_invalid_environment_message(exc)) from None
    except SettingsError as exc:
        raise UserError(f"invalid VPM_* variable: {exc}") from None
    env_set = settings.model_fields_set
    merged = {k: v for k, v in file_values.items() if k not in env_set}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    # model_copy skips validation, so a key from vpm.toml is wrapped here to
    # keep it out of reprs and dumps like a key from the environment.
    if isinstance(merged.get("llm_api_key"), str):
        merged["llm_api_key"] = SecretStr(merged["llm_api_key"])
    return settings.model_copy(update=merged) if merged else settings


def _invalid_environment_message(exc: ValidationError) -> str:
    """Name each invalid `VPM_*` variable, its value and the rule it breaks."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        value = "(hidden)" if field == "llm_api_key" else repr(error.get("input"))
        rule = error["msg"][:1].lower() + error["msg"][1:]
        problems.append(f"VPM_{field.upper()}={value} is invalid: {rule}")
    return "; ".join(problems) + "; fix or unset the variable"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from exc
    section = data.get("vpm", data)
    return {k: v for k, v in section.items() if k in Settings.model_fields}
