"""Settings of the HTTP service, from `VPM_API_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings of `vpm serve`, from `VPM_API_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="VPM_API_", extra="ignore")

    token: SecretStr | None = Field(
        default=None,
        description="Bearer token that write endpoints require (VPM_API_TOKEN); "
        "unset means write endpoints are open.",
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
