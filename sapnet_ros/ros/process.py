"""Start derain_node exactly as launch/derain.launch.py does, without ``ros2 launch``.

``ros2 launch`` does not install from PyPI, so ``make run``, the tests and
users of a plain virtualenv start the console script with the arguments the
launch file would give it:

    derain_node --ros-args -r __ns:=/camera --params-file config/derain.yaml
        -r image:=image_raw -r camera_info:=camera_info -r image_derained:=image_derained

``LaunchArguments`` holds the launch file's arguments and defaults (a test
keeps them equal) and turns them into the node's parameter overrides and
remappings, for the launch file and for ``command`` alike; with ``cameras``
(``front,rear`` or ``[front, rear]``) one node serves each camera's topics
under ``<namespace>/<camera>/``. ``NodeProcess`` runs the node as a child
process and stops it the way Ctrl-C does.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sapnet_ros import resources

EXECUTABLE = "derain_node"
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LaunchArguments:
    """The arguments of launch/derain.launch.py, with its defaults."""

    namespace: str = "camera"
    params_file: Path = field(default_factory=resources.config_file)
    backend: str = ""  # empty: the params file's
    model: str = ""  # speed ladder rung (sapnet, sapnet-s, sapnet-xs, sapnet-xxs); empty: the params file's
    image: str = "image_raw"
    camera_info: str = "camera_info"
    image_derained: str = "image_derained"
    cameras: str = ""  # empty: one camera in the namespace itself

    def camera_names(self) -> list[str]:
        """``cameras`` as a list: ``front,rear`` and ``[front, rear]`` both give ``["front", "rear"]``."""
        return [name for name in re.split(r"[\s,]+", self.cameras.strip().strip("[]")) if name]

    def overrides(self) -> dict[str, str | list[str]]:
        """Parameters set on top of the params file: only those given as launch arguments."""
        given = {"backend": self.backend, "model": self.model}
        overrides: dict[str, str | list[str]] = {name: value for name, value in given.items() if value}
        return overrides | ({"cameras": self.camera_names()} if self.camera_names() else {})

    def remappings(self) -> list[tuple[str, str]]:
        """The node's topic names (per camera, if several) and what they are remapped to."""
        topics = [("image", self.image), ("camera_info", self.camera_info), ("image_derained", self.image_derained)]
        prefixes = [f"{camera}/" for camera in self.camera_names()] or [""]
        return [(prefix + name, prefix + target) for prefix in prefixes for name, target in topics]

    def command(self, executable: str = EXECUTABLE) -> list[str]:
        """The command line ``ros2 launch`` would run for these arguments."""
        ros_args = ["--ros-args"]
        if self.namespace.strip("/"):
            ros_args += ["-r", f"__ns:=/{self.namespace.strip('/')}"]
        ros_args += ["--params-file", str(self.params_file)]
        for name, value in self.overrides().items():
            text = f"[{','.join(value)}]" if isinstance(value, list) else value
            ros_args += ["-p", f"{name}:={text}"]
        for name, target in self.remappings():
            ros_args += ["-r", f"{name}:={target}"]
        return [executable, *ros_args]


def find_executable() -> str:
    """``derain_node`` beside this Python (a virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / EXECUTABLE
    found = str(beside) if beside.is_file() else shutil.which(EXECUTABLE)
    if found is None:
        raise FileNotFoundError(f"{EXECUTABLE} not found beside {sys.executable} or on PATH; is sapnet_ros installed?")
    return found


class NodeProcess:
    """derain_node as a child process, for ``with``: started on enter, stopped (SIGINT) on exit.

    Args:
        arguments: launch arguments (defaults: the launch file's).
        log: where the node's stdout and stderr go; None: this process's.
        address_space: a limit on the node's virtual memory in bytes
            (``RLIMIT_AS``, as ``prlimit --as``); None: no limit.
    """

    def __init__(
        self, arguments: LaunchArguments | None = None, log: IO[str] | None = None, address_space: int | None = None
    ) -> None:
        self.arguments = arguments or LaunchArguments()
        self.command = self.arguments.command(find_executable())
        self._log = log
        self._address_space = address_space
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> NodeProcess:
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=self._limit
        )
        return self

    def _limit(self) -> None:
        """In the child, before the node starts: cap its address space."""
        if self._address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (self._address_space, self._address_space))

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("node process was never started")
        return self._process.pid

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Send SIGINT (Ctrl-C) and wait; kill after ``timeout`` s. Returns the exit code."""
        if self._process is None:
            raise RuntimeError("node process was never started")
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode
