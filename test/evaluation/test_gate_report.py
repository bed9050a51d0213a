"""The bag evaluation's rain-gate section: share of frames derained, switches, levels over time."""

from pathlib import Path

from sapnet_ros.evaluation.records import summarize
from sapnet_ros.evaluation.report import Figure, Table, build
from sapnet_ros.evaluation.run import BagJob, EvalOptions, evaluate_bag
from sapnet_ros.gate.rain_gate import GateSettings
from sapnet_ros.io.bags import BagWriter, header, image_message
from sapnet_ros.settings import DerainSettings
from sapnet_ros.synthesis.photos import still_scene
from sapnet_ros.synthesis.rain import LIGHT, RainSynthesizer

from .conftest import IMAGE


def test_a_drive_into_rain_reports_the_gate(tmp_path: Path) -> None:
    clean = still_scene("coffee", 320, 240)
    frames = [clean] * 3 + [RainSynthesizer(LIGHT, seed=1).apply(clean, i) for i in range(3)]
    with BagWriter(tmp_path / "drive") as writer:
        for i, frame in enumerate(frames):
            writer.write(IMAGE, image_message(frame, "rgb8", header(i * 10**8, "cam")))
    gate = GateSettings(smoothing=1.0, dwell_frames=0, fade_frames=0)
    options = EvalOptions(IMAGE, derain=DerainSettings("onnxruntime", max_side=64, gate=gate), detector="none",
                          thumbnails=0)  # fmt: skip
    result = evaluate_bag(BagJob("drive", tmp_path / "drive", tmp_path / "out"), options)
    assert [r.gate.weight for r in result.records] == [0.0] * 3 + [1.0] * 3  # type: ignore[union-attr]
    summary = summarize(result.records)
    assert summary["gate"]["derained_share"] == 0.5 and summary["gate"]["switches"] == 1
    assert summary["gate"]["level"]["max"] >= GateSettings().open_level
    blocks = build([result], [summary], summary, [], {"drive": "drive"})
    tables = [b for b in blocks if isinstance(b, Table) and b.header[0] == "rain gate: frames"]
    assert len(tables) == 1 and tables[0].rows[0][:3] == ["6", "50 %", "1"]
    assert any(isinstance(b, Figure) and b.path.endswith("drive-gate.png") for b in blocks)
    assert "level" in result.records[0].as_dict()["gate"]
