"""Find the files a cycle watches and tell which of them changed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vpm.model import Problem

# Folders that never hold project input: vpm's own outputs, VCS and tool
# caches. `reports/vpm` is where vpm writes its reports by default.
SKIP_DIRS = {".git", ".vpm", ".venv", "node_modules", "__pycache__", ".hg"}
SKIP_RELATIVE = {"reports/vpm"}
SKIP_FILES = {"memory.json"}


@dataclass(frozen=True)
class FileStat:
    """Size, mtime and sha256 of one file, as the watermark stores them."""

    mtime_ns: int
    size: int
    sha256: str

    def to_list(self) -> list[int | str]:
        return [self.mtime_ns, self.size, self.sha256]

    @classmethod
    def from_list(cls, value: list[int | str]) -> FileStat:
        return cls(int(value[0]), int(value[1]), str(value[2]))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def iter_files(project: Path, folder: str) -> Iterator[str]:
    """Yield project-relative paths of regular files under `folder`, sorted."""
    root = project / folder
    if root.is_symlink() or not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(project).as_posix()
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIP_DIRS and f"{rel_dir}/{d}" not in SKIP_RELATIVE
        )
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name in SKIP_FILES or path.is_symlink() or not path.is_file():
                continue
            yield f"{rel_dir}/{name}"


def iter_globs(project: Path, patterns: Iterable[str]) -> Iterator[str]:
    """Yield project-relative files matching any glob, each once, sorted."""
    found: set[str] = set()
    for pattern in patterns:
        for path in project.glob(pattern):
            rel = path.relative_to(project).as_posix()
            parts = set(rel.split("/")[:-1])
            if parts & SKIP_DIRS or path.is_symlink() or not path.is_file():
                continue
            if any(rel.startswith(skip + "/") for skip in SKIP_RELATIVE):
                continue
            found.add(rel)
    yield from sorted(found)


def stat_changed(path: Path, previous: FileStat | None) -> tuple[bool, os.stat_result]:
    """Tell from size and mtime alone whether a file may have changed."""
    info = path.stat()
    if previous is None:
        return True, info
    return (
        info.st_mtime_ns != previous.mtime_ns or info.st_size != previous.size
    ), info


def decode_utf8(data: bytes, rel: str) -> tuple[str, Problem | None]:
    """Decode UTF-8 (a BOM allowed); replace bad bytes and name the first one.

    Returns the text and, when some bytes were invalid, a problem giving the
    line of the first of them, so the rest of the file can still be used.
    """
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = Problem(
            path=rel,
            line=line,
            message="not valid UTF-8; undecodable bytes were replaced",
        )
        return data.decode("utf-8-sig", errors="replace"), problem
