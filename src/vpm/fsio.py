"""Atomic file writes: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from vpm.errors import OutputNotWritable

DATA_DIR_IGNORE = (
    "# vpm's data folder: database, memory, keys. Not for version control.\n*\n"
)


def ensure_data_dir(path: Path) -> Path:
    """Create vpm's data folder with a `.gitignore` that excludes all of it.

    The folder contains the database and, once `vpm prov keygen` has run, the
    private signing key, so a plain `git add -A` in the project must not
    pick it up.
    """
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        write_text_atomic(ignore, DATA_DIR_IGNORE)
    return path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over.

    Raises:
        OutputNotWritable: The folder cannot be created or written.
    """
    try:
        _write_bytes_atomic(path, data)
    except OSError as exc:
        raise OutputNotWritable(
            f"cannot write {path}: {exc.strerror or exc}; choose a writable "
            "folder with --out"
        ) from exc


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _target_mode(path)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp creates the file with mode 0600; give the result the mode
        # the old file had, or the usual mode for a new file.
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """Read the process umask without changing it.

    `os.umask` can only read the mask by setting it, which would briefly
    change it for other threads, so Linux's /proc is read instead. Other
    systems get the common default 022.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n"
    write_text_atomic(path, text)
