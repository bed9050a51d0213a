import json
from pathlib import Path

import pytest

from sapnet_ros.evaluation.cli import main
from sapnet_ros.evaluation.fleet import BagFailure, run_jobs
from sapnet_ros.evaluation.records import BagResult
from sapnet_ros.evaluation.run import BagJob, EvalOptions

from .conftest import IMAGE, write_drive


@pytest.fixture(scope="module")
def two_drives(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short drives whose folders share a name, as recordings from two cars often do."""
    root = tmp_path_factory.mktemp("fleet")
    return [write_drive(root / car / "drive", count=2).path for car in ("car_a", "car_b")]


def test_local_worker_processes_evaluate_every_bag(
    two_drives: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.bag"
    args = [*map(str, two_drives), str(missing), "--image-topic", IMAGE, "--output", str(tmp_path / "out")]
    assert main([*args, "--workers", "2", "--detector", "none"]) == 1  # one bag failed
    captured = capsys.readouterr()
    assert "missing.bag: cannot open bag" in captured.err
    assert "2/2 frames" in captured.out and "frame" in captured.err  # the progress bar
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert [b["name"] for b in metrics["bags"]] == ["drive", "drive-2"]
    assert [b["summary"]["frames"] for b in metrics["bags"]] == [2, 2] and metrics["overall"]["frames"] == 4
    assert metrics["failed"][0]["name"] == "missing" and metrics["bags"][0]["backend"]["name"] == "onnxruntime"
    assert sorted(p.name for p in (tmp_path / "out" / "bags").iterdir()) == ["drive", "drive-2"]
    assert "| all bags | 4 |" in (tmp_path / "out" / "report.md").read_text()


def test_ray_spreads_bags_over_a_local_instance(
    two_drives: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    jobs = [BagJob(f"bag{i}", path, tmp_path / f"bag{i}") for i, path in enumerate(two_drives)]
    jobs.append(BagJob("bad", two_drives[0], tmp_path / "bag0"))  # its output exists by then: refused
    options = EvalOptions(IMAGE, detector="none", thumbnails=0)
    outcomes = run_jobs(jobs, options, frames_total=4, ray_address="local", progress=False)
    first, second, bad = outcomes
    assert isinstance(first, BagResult) and isinstance(second, BagResult)
    assert [len(first.records), len(second.records)] == [2, 2]
    assert first.backend["name"] == "onnxruntime" and (tmp_path / "bag1" / "metadata.yaml").is_file()
    assert isinstance(bad, BagFailure) and "refusing to overwrite" in bad.error
