"""Atomic file writes: a temporary name beside the target, then a rename, so readers never see half a file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file under a temporary name, then rename it, so readers never see half of it."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """``write_atomic`` for writers that take a path (``torch.save``): the name yielded becomes ``path`` at the end."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    yield temporary
    temporary.replace(path)
