"""The TensorRT builder's calls, against a fake ``tensorrt`` and cuda-python that record them.

No GPU is needed: what is checked is what TensorRT is asked to do (which
device is current when it builds, which builder flags each precision sets,
strong or weak typing per version), which is where the defects were.
"""

import enum
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from sapnet_ros.backends import engine_build
from sapnet_ros.backends.engine_build import build_engine, set_precision_flags
from sapnet_ros.resources import default_onnx, models_dir

Flag = enum.IntEnum("Flag", ["FP16", "INT8", "TF32"])


class Recorder:
    """The ordered calls the fakes received, e.g. ("cudaSetDevice", 1), ("Builder",)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.flags: set[str] = {"TF32"}  # TensorRT's default
        self.network_flags = -1


def fake_config(record: Recorder) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        set_flag=lambda flag: record.flags.add(flag.name),
        clear_flag=lambda flag: record.flags.discard(flag.name),
        set_memory_pool_limit=lambda pool, size: None,
        add_optimization_profile=lambda profile: None,
        create_timing_cache=lambda blob: types.SimpleNamespace(serialize=lambda: b"timing"),
        set_timing_cache=lambda cache, ignore_mismatch: True,
        progress_monitor=None,
    )


def fake_tensorrt(version: str, record: Recorder) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version  # type: ignore[attr-defined]
    network = types.SimpleNamespace(
        num_inputs=1, get_input=lambda index: types.SimpleNamespace(name="rainy", shape=(-1, 3, -1, -1))
    )

    def create_network(flags: int) -> types.SimpleNamespace:
        record.network_flags = flags
        return network

    def builder(logger: Any) -> types.SimpleNamespace:
        record.calls.append(("Builder",))
        return types.SimpleNamespace(
            create_network=create_network,
            create_builder_config=lambda: fake_config(record),
            create_optimization_profile=lambda: types.SimpleNamespace(set_shape=lambda *shapes: None),
            build_serialized_network=lambda network, config: b"engine",
        )

    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    trt.Builder = builder  # type: ignore[attr-defined]
    trt.Logger = lambda level: None  # type: ignore[attr-defined]
    trt.Logger.WARNING = 2  # type: ignore[attr-defined]
    trt.OnnxParser = lambda network, logger: types.SimpleNamespace(parse_from_file=lambda path: True, num_errors=0)  # type: ignore[attr-defined]
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=0)  # type: ignore[attr-defined]
    trt.BuilderFlag = Flag  # type: ignore[attr-defined]
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)  # type: ignore[attr-defined]
    trt.IProgressMonitor = IProgressMonitor  # type: ignore[attr-defined]
    return trt


def fake_cudart(record: Recorder) -> types.SimpleNamespace:
    success = enum.IntEnum("Error", {"cudaSuccess": 0})
    properties = {0: (b"GPU zero", 8, 6), 1: (b"GPU one", 8, 9)}

    def set_device(device: int) -> tuple[Any]:
        record.calls.append(("cudaSetDevice", device))
        return (success["cudaSuccess"],)

    def device_properties(device: int) -> tuple[Any, types.SimpleNamespace]:
        name, major, minor = properties[device]
        return success["cudaSuccess"], types.SimpleNamespace(name=name, major=major, minor=minor)

    return types.SimpleNamespace(
        cudaError_t=success, cudaSetDevice=set_device, cudaGetDeviceProperties=device_properties
    )


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(version: str) -> Recorder:
        record = Recorder()
        monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(version, record))
        cudart = fake_cudart(record)
        monkeypatch.setattr(engine_build, "runtime", lambda: cudart)
        monkeypatch.setattr("sapnet_ros.backends.cuda.runtime", lambda: cudart)
        return record

    return install


def test_the_engine_is_built_on_the_device_it_is_keyed_to(fake_stack: Any, tmp_path: Path) -> None:
    record = fake_stack("10.3.0")
    engine = build_engine(default_onnx(), tmp_path, "fp32", device=1)
    assert record.calls.index(("cudaSetDevice", 1)) < record.calls.index(("Builder",))
    sidecar = json.loads(engine.with_suffix(".json").read_text())
    assert sidecar["key"]["device_name"] == "GPU one" and sidecar["key"]["compute_capability"] == "8.9"
    assert "TF32" not in record.flags  # fp32 means fp32


def test_int8_builds_weakly_typed_with_fp16_before_tensorrt_10_12(fake_stack: Any, tmp_path: Path) -> None:
    symmetric = models_dir() / "sapnet_int8_symmetric.onnx"
    record = fake_stack("10.3.0")  # JetPack 6
    engine = build_engine(symmetric, tmp_path, "int8")
    assert record.network_flags == 0 and {"INT8", "FP16"} <= record.flags
    assert json.loads(engine.with_suffix(".json").read_text())["strongly_typed"] is False
    record = fake_stack("10.13.3")
    build_engine(symmetric, tmp_path, "int8")
    assert record.network_flags == 1 and not {"INT8", "FP16"} & record.flags  # the graph's types decide


@pytest.mark.parametrize(
    ("precision", "strong", "expected"),
    [("fp32", False, set()), ("fp32", True, set()), ("fp16", False, {"TF32", "FP16"}), ("fp16", True, {"TF32"}),
     ("int8", False, {"TF32", "FP16", "INT8"}), ("int8", True, {"TF32"})],
)  # fmt: skip
def test_builder_flags_per_precision(precision: str, strong: bool, expected: set[str]) -> None:
    record = Recorder()
    set_precision_flags(types.SimpleNamespace(BuilderFlag=Flag), fake_config(record), precision, strong)
    assert record.flags == expected
