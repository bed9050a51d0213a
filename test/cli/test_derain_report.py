"""``sapnet-derain -v`` and ``--report``: the rain gate's decision per file is visible."""

import csv
from pathlib import Path

import cv2
import pytest

from sapnet_ros.cli.derain import REPORT_COLUMNS, main
from sapnet_ros.synthesis.photos import still_scene
from sapnet_ros.synthesis.rain import LIGHT, RainSynthesizer


def test_each_file_says_its_rain_level_and_whether_it_was_derained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    clean = still_scene("coffee", 320, 240)[:, :, ::-1]
    assert cv2.imwrite(str(folder / "dry.png"), clean)
    assert cv2.imwrite(str(folder / "wet.png"), RainSynthesizer(LIGHT, seed=2).apply(clean))
    report = tmp_path / "report.csv"
    args = [str(folder), "--output", str(tmp_path / "out"), "--rain-gate", "--max-side", "64", "--backend", "torch"]
    assert main([*args, "-v", "--report", str(report)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(str(folder))]
    assert len(lines) == 2 and "dry.png: rain level 0." in lines[0] and "passed through dry" in lines[0]
    assert "wet.png: rain level" in lines[1] and lines[1].split(" -> ")[0].endswith("derained")
    with report.open() as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0]) == REPORT_COLUMNS and [row["derained"] for row in rows] == ["no", "yes"]
    assert float(rows[0]["rain_level"]) < 0.3 < 0.6 <= float(rows[1]["rain_level"])
    args[2] = str(tmp_path / "never")
    with pytest.raises(SystemExit, match="2"):  # no folder for the report: an error before anything is written
        main([*args, "--report", str(tmp_path / "missing" / "report.csv")])
    assert not (tmp_path / "never").exists()
