"""ONNX files and sessions: load errors are one project error; ONNX Runtime's telemetry stays off unless asked for."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sapnet_ros import resources
from sapnet_ros.errors import BackendError, WeightsError
from sapnet_ros.model.sessions import inference_session, read_onnx

ROOT = Path(__file__).resolve().parents[2]
SESSION = (
    "from sapnet_ros import resources\n"
    "from sapnet_ros.model.sessions import inference_session\n"
    "inference_session(resources.models_dir() / 'rain_estimator.onnx')\n"
)


def _files_written_under_home(tmp_path: Path, **environment: str) -> list[Path]:
    """Run a session in a fresh interpreter whose HOME and cache are ``tmp_path``; the files it left there."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "SAPNET_ORT_TELEMETRY")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(ROOT), **environment)
    subprocess.run([sys.executable, "-c", SESSION], env=env, check=True, timeout=120)
    return [path for path in home.rglob("*") if path.is_file()]


def test_no_telemetry_files_by_default(tmp_path: Path) -> None:
    assert _files_written_under_home(tmp_path) == []


def test_the_switch_turns_onnx_runtimes_telemetry_back_on(tmp_path: Path) -> None:
    """Proves the test above can fail: with the switch, ONNX Runtime writes its queue under the cache folder."""
    written = _files_written_under_home(tmp_path, SAPNET_ORT_TELEMETRY="1")
    if not written:
        pytest.skip("this onnxruntime build writes no telemetry files")
    assert all("Microsoft" in path.parts for path in written)


@pytest.mark.parametrize("content", [b"", b"\x00garbage\xff" * 50, b"truncated"], ids=["empty", "random", "short"])
def test_unreadable_onnx_files_are_one_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    with pytest.raises(WeightsError, match=r"bad\.onnx: not a readable ONNX model"):
        read_onnx(bad)
    with pytest.raises(BackendError, match=r"bad\.onnx: not a readable ONNX model \(\[ONNXRuntimeError\]"):
        inference_session(bad, error=BackendError)


def test_a_good_model_loads() -> None:
    session = inference_session(resources.models_dir() / "rain_estimator.onnx")
    assert len(session.get_inputs()) == 1
    assert read_onnx(resources.default_onnx()).graph.node
