"""The error the API routes raise; the app turns it into a JSON response."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request that fails with a given status, error code and detail.

    Args:
        status_code: HTTP status of the response.
        error: Short machine-readable code, e.g. `project-not-found`.
        detail: What went wrong and what to do, as a sentence, or any JSON.
        headers: Extra response headers, e.g. `WWW-Authenticate`.
    """

    def __init__(
        self,
        status_code: int,
        error: str,
        detail: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status_code} {error}: {detail}")
        self.status_code = status_code
        self.error = error
        self.detail = detail
        self.headers = headers
