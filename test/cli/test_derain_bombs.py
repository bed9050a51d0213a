"""sapnet-derain and image bombs: files declaring too many pixels are skipped with one line each, never decoded."""

from pathlib import Path

import cv2
import pytest
from conftest import tiny_rgb
from image_bombs import jpeg_bomb, png_bomb

from sapnet_ros.cli.derain import main


def test_bombs_in_a_folder_are_skipped_and_the_run_finishes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "good.png"), tiny_rgb(24, 32))
    (folder / "huge.png").write_bytes(png_bomb(100_000, 100_000, rows=4))  # stopped a folder run in the issue
    (folder / "bomb.png").write_bytes(png_bomb(20_000, 20_000, rows=4))  # 6.2 GB and a traceback in the issue
    (folder / "jbomb.jpg").write_bytes(jpeg_bomb(30_000, 30_000))
    out = tmp_path / "out"
    code = main([str(folder), "--output", str(out), "--backend", "onnxruntime", "--max-side", "640"])
    captured = capsys.readouterr()
    assert code == 1
    assert "1 frames" in captured.out and "3 failed" in captured.out
    lines = [line for line in captured.err.splitlines() if line.startswith("sapnet-derain: skipped")]
    assert len(lines) == 3 and "Traceback" not in captured.err
    assert any("huge.png" in line and "PNG declares 100000x100000" in line for line in lines), lines
    assert any("jbomb.jpg" in line and "JPEG declares 30000x30000" in line for line in lines), lines
    assert all("over max_pixels 50000000" in line for line in lines)
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]


def test_max_pixels_flag_sets_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "small.png"
    assert cv2.imwrite(str(image), tiny_rgb(24, 32))
    code = main([str(image), "--output", str(tmp_path / "out"), "--backend", "onnxruntime", "--max-pixels", "700"])
    assert code == 1
    assert "PNG declares 32x24 (0.0 MP), over max_pixels 700" in capsys.readouterr().err
