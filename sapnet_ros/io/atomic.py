"""Atomic file writes: a temporary name beside the target, then a rename, so readers never see half a file.

The temporary is ``.NAME.PID.tmp``: hidden, and unique per process. It is
removed when the write fails or is interrupted; a process killed outright
(SIGKILL, power loss) can still leave one, which ``stale_temporaries`` finds
so that a later run can clean it up. The file ends up with the permissions a
plain ``open()`` would give it (0666 less the umask), whatever the writer used.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sapnet_ros.errors import OutputError


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file under a temporary name, then rename it, so readers never see half of it."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def temporary_name(path: Path, pid: int | None = None) -> Path:
    """Where ``atomic_path`` writes ``path`` first (in process ``pid``, default this one)."""
    return path.with_name(f".{path.name}.{os.getpid() if pid is None else pid}.tmp")


def stale_temporaries(path: Path, suffix: str = "tmp") -> list[Path]:
    """Temporaries of ``path`` (``.tmp`` files, ``.partial`` folders) left by processes that are gone."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.{suffix}")
    found = []
    for candidate in path.parent.glob(f".{path.name}.*.{suffix}"):
        match = pattern.fullmatch(candidate.name)
        if match and not _alive(int(match.group(1))):
            found.append(candidate)
    return sorted(found)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _read_umask() -> int:
    """The process's umask, read once at import (setting it to read it is not thread-safe later on)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """``write_atomic`` for writers that take a path (``torch.save``): the name yielded becomes ``path`` at the end.

    Raises:
        Whatever the writer raised (the temporary is removed first), or
        OSError from the rename.
    """
    temporary = temporary_name(path)
    try:
        yield temporary
        temporary.chmod(0o666 & ~_UMASK)  # writers such as tempfile-based ones use 0600
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def check_writable(path: Path) -> None:
    """Check before any work that ``path`` can be written (its folder exists and takes files).

    Raises:
        OutputError: it cannot, with the reason.
    """
    try:
        _probe(path)
    except OSError as err:
        raise OutputError(f"{path}: cannot write it ({err.strerror or err})") from err


def _probe(path: Path) -> None:
    """Create and remove ``path``'s temporary: OSError if the folder does not take files."""
    probe = temporary_name(path)
    probe.write_bytes(b"")
    probe.unlink()


@contextmanager
def output_folder(path: Path) -> Iterator[Path]:
    """Create a tool's output folder and check that it takes files, before the tool does any work.

    Folders created here are removed again at the end of the block (failed,
    interrupted or finished) if they are still empty, so a run that wrote
    nothing leaves nothing behind; a folder that holds results stays.

    Raises:
        OutputError: the folder (or a parent) cannot be created, or a file cannot be written in it.
    """
    created = [folder for folder in (path, *path.parents) if not folder.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe(path / "write-test")
    except OSError as err:
        _remove_empty(created)
        raise OutputError(f"{path}: cannot write the output folder ({err.strerror or err})") from err
    try:
        yield path
    finally:
        _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders (deepest first) that exist and are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty, or gone: the ones above it are not empty either


def staging_folder(path: Path, pid: int | None = None) -> Path:
    """Where ``atomic_folder`` builds ``path``: ``.NAME.PID.partial/NAME`` beside it (the name kept inside)."""
    return path.parent / f".{path.name}.{os.getpid() if pid is None else pid}.partial" / path.name


@contextmanager
def atomic_folder(path: Path, pid: int | None = None) -> Iterator[Path]:
    """``atomic_path`` for a folder (a rosbag2 bag): built in ``staging_folder``, renamed to ``path`` at the end.

    A failed or interrupted block removes the staging folder, so ``path``
    exists only complete; leftovers of a killed process are found by
    ``stale_temporaries(path, "partial")``.

    Args:
        path: the folder to create (must not exist).
        pid: the process that owns the staging folder (default: this one),
            for workers building on behalf of a parent that cleans up after them.
    """
    staging = staging_folder(path, pid)
    created = [folder for folder in path.parents if not folder.exists()]
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield staging
        staging.rename(path)
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
        _remove_empty(created)
