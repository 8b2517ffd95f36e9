"""Settings of the HTTP service, from `VPM_API_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vpm.errors import UserError


class ServiceSettings(BaseSettings):
    """Settings of `vpm serve`, from `VPM_API_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="VPM_API_", extra="ignore")

    token: SecretStr | None = Field(
        default=None,
        description="Bearer token that write endpoints require (VPM_API_TOKEN); "
        "unset means write endpoints are open. Surrounding whitespace is "
        "stripped, and an empty token is rejected.",
    )
    read_auth: bool = Field(
        default=False,
        description="Require the token on read endpoints too (VPM_API_READ_AUTH).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Larger request bodies are rejected with 413, in bytes.",
    )
    dedupe_seconds: float = Field(
        default=10.0,
        ge=0,
        description="An identical task submitted again within this many seconds "
        "returns the first task.",
    )
    file_view_max_bytes: int = Field(
        default=1_000_000,
        ge=1000,
        description="Larger project files are not shown by the file view, in bytes.",
    )
    expose_paths: bool = Field(
        default=False,
        description="Show absolute server paths in API responses and on the "
        "dashboard (VPM_API_EXPOSE_PATHS); off shows project-relative paths only.",
    )
    ask_workers: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Engine calls of /api/v1/ask that run at once, each in a "
        "thread of a pool used by nothing else (VPM_API_ASK_WORKERS).",
    )
    ask_queue: int = Field(
        default=64,
        ge=0,
        le=10_000,
        description="Questions that may wait for a free ask worker; more get 503 "
        "ask-busy (VPM_API_ASK_QUEUE).",
    )

    @field_validator("token")
    @classmethod
    def _validate_token(cls, token: SecretStr | None) -> SecretStr | None:
        """Strip whitespace around the token and reject an empty one."""
        if token is None:
            return None
        stripped = token.get_secret_value().strip()
        if not stripped:
            raise ValueError(
                "VPM_API_TOKEN is set but empty. Set a non-empty token, or "
                "unset VPM_API_TOKEN to leave write endpoints open."
            )
        return SecretStr(stripped)


def load_service_settings() -> ServiceSettings:
    """Read the settings from the environment.

    Raises:
        UserError: A `VPM_API_*` variable has an invalid value; the message
            names each one.
    """
    try:
        return ServiceSettings()
    except ValidationError as exc:
        raise UserError(_settings_error_message(exc)) from None


def _settings_error_message(exc: ValidationError) -> str:
    """Name each invalid variable and the rule it breaks, never its value."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        message = error["msg"].removeprefix("Value error, ")
        if message.startswith("VPM_API_"):
            problems.append(message)
        else:
            problems.append(f"VPM_API_{field.upper()} is invalid: {message}")
    return "; ".join(problems)
