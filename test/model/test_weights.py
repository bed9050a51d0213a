import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sapnet_ros import resources
from sapnet_ros.errors import WeightsError
from sapnet_ros.model.weights import convert, file_sha256, main, read_weights

OFFICIAL_SHA256 = "807bb16685280a493236f3e5fa804274198044ad838b5cc060bf66af03a259cb"


@pytest.fixture
def official_like_pth(tmp_path: Path) -> Path:
    """The shipped weights written back as the official DataParallel state dict."""
    state = read_weights().state_dict
    path = tmp_path / "net_latest.pth"
    torch.save({f"module.{key}": value for key, value in state.items()}, path)
    return path


def test_shipped_weights_carry_provenance() -> None:
    weights = read_weights()
    assert weights.path == resources.default_weights()
    assert weights.metadata["source_sha256"] == OFFICIAL_SHA256
    assert "MIT" in weights.metadata["licence"]
    assert len(weights.state_dict) == 62
    assert not any(key.startswith("module.") for key in weights.state_dict)


def test_official_pth_loads_and_converts_identically(official_like_pth: Path, tmp_path: Path) -> None:
    from_pth = read_weights(official_like_pth)
    output = convert(official_like_pth, tmp_path / "w.safetensors", origin="test", licence="MIT")
    converted = read_weights(output)
    assert converted.metadata["source_sha256"] == file_sha256(official_like_pth)
    for key, value in from_pth.state_dict.items():
        assert torch.equal(value, converted.state_dict[key])


def test_convert_command_writes_file(
    official_like_pth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(official_like_pth), "--output", str(tmp_path / "out.safetensors")]) == 0
    assert "sha256" in capsys.readouterr().out


def _one_line_error(path: Path) -> str:
    with pytest.raises(WeightsError) as caught:
        read_weights(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in _one_line_error(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_truncated_file(suffix: str, official_like_pth: Path, tmp_path: Path) -> None:
    source = resources.default_weights() if suffix == ".safetensors" else official_like_pth
    truncated = tmp_path / f"cut{suffix}"
    truncated.write_bytes(source.read_bytes()[:5000])
    assert "not a readable" in _one_line_error(truncated)


def test_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = dict(read_weights().state_dict)
    del state["conv.0.bias"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "keys.safetensors"
    save_file(state, str(path))
    message = _one_line_error(path)
    assert "missing 1 keys (conv.0.bias)" in message and "unexpected 1 keys (extra.weight)" in message


def test_shape_mismatch(tmp_path: Path) -> None:
    state = dict(read_weights().state_dict)
    state["conv0.0.weight"] = torch.zeros(32, 3, 3, 3)
    path = tmp_path / "shape.safetensors"
    save_file(state, str(path))
    assert "conv0.0.weight (32, 3, 3, 3) != (32, 6, 3, 3)" in _one_line_error(path)


def test_pth_with_non_tensors_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "args.pth"
    torch.save({"epoch": 3}, path)
    assert "state dict of tensors" in _one_line_error(path)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_pickled_code_is_never_executed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as stream:
        pickle.dump({"conv.0.weight": _Payload()}, stream)
    assert "not a readable PyTorch state dict" in _one_line_error(path)
    assert "must never run" not in capsys.readouterr().out
