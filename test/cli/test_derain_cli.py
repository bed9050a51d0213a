import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import tiny_rgb

from sapnet_ros.cli.derain import main
from sapnet_ros.model.artifacts import int8_model_path, quality_holds
from sapnet_ros.synthesis.photos import still_scene
from sapnet_ros.synthesis.rain import LIGHT, RainSynthesizer


def _write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def mixed_inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "odd.jpg", tiny_rgb(23, 37))
    _write(folder / "grey.png", tiny_rgb(20, 21)[:, :, 0])
    _write(folder / "rgba.png", np.dstack([tiny_rgb(16, 18), np.full((16, 18), 77, np.uint8)]))
    _write(folder / "deep.png", tiny_rgb(15, 17).astype(np.uint16) * 257)
    return folder


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([*args, "--backend", "torch"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_odd_grey_rgba_and_16_bit_keep_their_format(
    mixed_inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, _ = _run([str(mixed_inputs), "--output", str(out)], capsys)
    assert code == 0
    assert "4 frames" in stdout and "backend torch" in stdout and "0 failed" in stdout
    for name in ["odd", "grey", "rgba", "deep"]:
        source = cv2.imread(str(next(mixed_inputs.glob(f"{name}.*"))), cv2.IMREAD_UNCHANGED)
        result = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert result.shape == source.shape and result.dtype == source.dtype, name
    rgba = cv2.imread(str(out / "rgba.png"), cv2.IMREAD_UNCHANGED)
    assert (rgba[:, :, 3] == 77).all()


def test_unreadable_files_are_reported_and_skipped(
    mixed_inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (mixed_inputs / "truncated.png").write_bytes(cv2.imencode(".png", tiny_rgb())[1].tobytes()[:40])
    (mixed_inputs / "empty.jpg").write_bytes(b"")
    out = tmp_path / "out"
    code, stdout, stderr = _run([str(mixed_inputs), "--output", str(out)], capsys)
    assert code == 1
    assert "4 frames" in stdout and "2 failed" in stdout
    assert "truncated.png: not a decodable image" in stderr and "empty.jpg: not a decodable image (0 bytes)" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["deep.png", "grey.png", "odd.png", "rgba.png"]


def test_never_overwrites_an_input(mixed_inputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([str(mixed_inputs / "grey.png"), "--output", str(mixed_inputs)])
    assert caught.value.code == 2
    assert "would overwrite an input" in capsys.readouterr().err


def test_sample_matches_official_output_within_one_level(
    sample_path: Path, reference: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(sample_path, tmp_path / sample_path.name)
    source = str(tmp_path / sample_path.name)
    assert main([source, "--output", str(tmp_path / "out"), "--precision", "fp32"]) == 0  # auto backend
    assert "backend onnxruntime (CPUExecutionProvider, fp32)" in capsys.readouterr().out
    derained = cv2.imread(str(tmp_path / "out" / f"{sample_path.stem}.png"))[:, :, ::-1]
    assert np.abs(derained.astype(np.float32) - reference * 255).max() <= 1.0


def test_auto_runs_onnxruntime_on_the_cpu_in_the_precision_whose_quality_holds(
    sample_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(sample_path, tmp_path / sample_path.name)
    assert main([str(tmp_path / sample_path.name), "--output", str(tmp_path / "out"), "--device", "cpu"]) == 0
    found = int8_model_path()
    precision = "int8" if found is not None and quality_holds(found[1]) else "fp32"
    assert f"backend onnxruntime (CPUExecutionProvider, {precision})" in capsys.readouterr().out


def test_rain_gate_copies_dry_photos_and_derains_rainy_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    clean = still_scene("coffee", 320, 240)[:, :, ::-1]  # BGR, as OpenCV writes it
    _write(folder / "dry.png", clean)
    _write(folder / "wet.png", RainSynthesizer(LIGHT, seed=2).apply(clean))
    out = tmp_path / "out"
    code, stdout, _ = _run([str(folder), "--output", str(out), "--rain-gate", "--max-side", "64"], capsys)
    assert code == 0 and "2 frames" in stdout and "1 passed through dry by the rain gate" in stdout
    np.testing.assert_array_equal(cv2.imread(str(out / "dry.png")), clean)
    assert not np.array_equal(cv2.imread(str(out / "wet.png")), cv2.imread(str(folder / "wet.png")))
