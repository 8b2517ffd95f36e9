"""Atomic file writes: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

DATA_DIR_IGNORE = (
    "# vpm's data folder: database, memory, keys. Not for version control.\n*\n"
)


def ensure_data_dir(path: Path) -> Path:
    """Create vpm's data folder with a `.gitignore` that excludes all of it.

    The folder holds the database and, once `vpm prov keygen` has run, the
    private signing key, so a plain `git add -A` in the project must not
    pick it up.
    """
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        write_text_atomic(ignore, DATA_DIR_IGNORE)
    return path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n"
    write_text_atomic(path, text)
