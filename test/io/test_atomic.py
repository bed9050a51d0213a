"""Atomic writes and output folders: complete or absent, never a temporary or an empty folder left behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sapnet_ros.errors import OutputError
from sapnet_ros.io.atomic import (
    atomic_folder,
    atomic_path,
    output_folder,
    staging_folder,
    stale_temporaries,
    temporary_name,
    write_atomic,
)


def test_a_failed_write_leaves_neither_the_file_nor_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    write_atomic(target, b"previous")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_bytes(b"ha")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_files_get_the_mode_a_plain_open_gives(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "secret") as temporary:
        temporary.touch(mode=0o600)  # as tempfile-based writers create them
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o666 & ~umask


def test_stale_temporaries_are_those_of_dead_processes(tmp_path: Path) -> None:
    target = tmp_path / "last.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = temporary_name(target, int(dead.stdout))
    left.write_bytes(b"")  # what a SIGKILL during torch.save leaves
    temporary_name(target).write_bytes(b"")  # this process is alive: its own temporary is not stale
    (tmp_path / ".other.pt.1.tmp").write_bytes(b"")
    assert stale_temporaries(target) == [left]


def test_output_folder_removes_the_folders_it_made_when_nothing_was_written(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    with pytest.raises(KeyboardInterrupt), output_folder(target):
        assert target.is_dir()
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with output_folder(target):
        (target / "result.png").write_bytes(b"png")
    assert (target / "result.png").is_file()


def test_output_folder_that_cannot_be_made_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    expected = r"file/out: cannot write the output folder \(Not a directory\)"
    with pytest.raises(OutputError, match=expected), output_folder(tmp_path / "file" / "out"):
        pass


def test_atomic_folder_appears_only_complete(tmp_path: Path) -> None:
    target = tmp_path / "bags" / "drive"
    with pytest.raises(KeyboardInterrupt), atomic_folder(target) as staging:
        (staging).mkdir()
        (staging / "drive.mcap").write_bytes(b"half a bag")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # neither the bag, its staging folder nor bags/
    with atomic_folder(target) as staging:
        staging.mkdir()
        (staging / "drive.mcap").write_bytes(b"a bag")
        assert staging == staging_folder(target) and staging.name == "drive"  # the bag keeps its name inside
    assert [p.name for p in (tmp_path / "bags").iterdir()] == ["drive"]
    assert (target / "drive.mcap").read_bytes() == b"a bag"
