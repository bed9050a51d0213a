"""Start derain_node exactly as launch/derain.launch.py does, without ``ros2 launch``.

``ros2 launch`` does not install from PyPI, so ``make run``, the tests and
users of a plain virtualenv start the console script with the arguments the
launch file would give it:

    derain_node --ros-args -r __ns:=/camera --params-file config/derain.yaml
        -r image:=image_raw -r camera_info:=camera_info -r image_derained:=image_derained

``LaunchArguments`` mirrors the launch file's arguments and defaults (a test
keeps them equal); ``NodeProcess`` runs the node as a child process and stops
it the way Ctrl-C does.
"""

from __future__ import annotations

import os
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
    image: str = "image_raw"
    camera_info: str = "camera_info"
    image_derained: str = "image_derained"

    def remappings(self) -> list[tuple[str, str]]:
        """The node's topic names and what they are remapped to."""
        return [("image", self.image), ("camera_info", self.camera_info), ("image_derained", self.image_derained)]

    def command(self, executable: str = EXECUTABLE) -> list[str]:
        """The command line ``ros2 launch`` would run for these arguments."""
        ros_args = ["--ros-args"]
        if self.namespace.strip("/"):
            ros_args += ["-r", f"__ns:=/{self.namespace.strip('/')}"]
        ros_args += ["--params-file", str(self.params_file)]
        if self.backend:
            ros_args += ["-p", f"backend:={self.backend}"]
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
    """

    def __init__(self, arguments: LaunchArguments | None = None, log: IO[str] | None = None) -> None:
        self.arguments = arguments or LaunchArguments()
        self.command = self.arguments.command(find_executable())
        self._log = log
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> NodeProcess:
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, text=True, env=env)
        return self

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
