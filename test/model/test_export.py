from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from sapnet_ros import resources
from sapnet_ros.model.artifacts import read_metadata
from sapnet_ros.model.export import TENSORRT_SAFE_OPS, export_onnx, main, onnx_for_weights
from sapnet_ros.model.weights import file_sha256


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(tmp_path_factory.mktemp("onnx") / "sapnet.onnx", extra_metadata={"note": "test"})


def test_export_is_valid_and_tensorrt_friendly(exported: Path) -> None:
    model = onnx.load(str(exported))
    onnx.checker.check_model(model, full_check=True)
    ops = {node.op_type for node in model.graph.node}
    assert ops <= TENSORRT_SAFE_OPS
    assert not ops & {"Loop", "If", "Scan"}
    assert sum(node.op_type == "Conv" for node in model.graph.node) == 6 * 46  # six stages unrolled
    (tensor,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in tensor.type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]


def test_metadata_names_the_weights(exported: Path) -> None:
    metadata = read_metadata(exported)
    assert metadata["weights_sha256"] == file_sha256(resources.default_weights())
    assert metadata["input_layout"] == "NCHW" and metadata["input_range"] == "[0, 1]"
    assert metadata["note"] == "test" and metadata["sapnet_ros_version"]


def test_runs_at_two_sizes_without_reexport(exported: Path) -> None:
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 17, 29), (2, 3, 40, 24)]:
        (output,) = session.run(None, {"rainy": np.random.rand(*shape).astype(np.float32)})
        assert output.shape == shape


def test_shipped_onnx_matches_shipped_weights() -> None:
    assert onnx_for_weights() == resources.default_onnx()
    assert read_metadata(resources.default_onnx())["weights_sha256"] == file_sha256(resources.default_weights())


def test_command_refuses_bad_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(SystemExit) as caught:
        main(["--output", str(tmp_path / "x.onnx"), "--weights", str(bad)])
    assert caught.value.code == 2
    assert "not a readable safetensors file" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
