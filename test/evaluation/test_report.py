import base64
import json
import re
from pathlib import Path

import cv2
import numpy as np

from sapnet_ros.evaluation.fleet import BagFailure
from sapnet_ros.evaluation.records import BagResult, FrameRecord, Thumbnail
from sapnet_ros.evaluation.report import (
    BRISQUE_SCALE,
    Figure,
    Heading,
    Table,
    Text,
    _detection_blocks,
    finite,
    fmt,
    to_html,
    to_markdown,
    write_report,
)
from sapnet_ros.evaluation.thumbnails import side_by_side
from sapnet_ros.metrics import Quality


def _png() -> bytes:
    return side_by_side([np.full((8, 8, 3), 90, np.uint8)], height=8)


def test_markdown_and_html_say_the_same_thing() -> None:
    blocks = [
        Heading(1, "Rain <check>"),
        Text("Bag `a&b` **stopped**"),
        Table(["metric", "value"], [["PSNR", "21.30"]]),
        Figure("latency", "plots/x.png", _png()),
    ]
    markdown = to_markdown(blocks)
    assert "# Rain <check>" in markdown and "| PSNR | 21.30 |" in markdown and "![latency](plots/x.png)" in markdown
    html = to_html(blocks, "t")
    assert "<h1>Rain &lt;check&gt;</h1>" in html
    assert "<p>Bag <code>a&amp;b</code> <strong>stopped</strong></p>" in html
    assert "<td>PSNR</td><td>21.30</td>" in html
    (image,) = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert cv2.imdecode(np.frombuffer(base64.b64decode(image), np.uint8), cv2.IMREAD_COLOR).shape == (8, 8, 3)


def test_numbers_and_json_handle_what_was_not_measured() -> None:
    assert fmt(None) == "n/a" and fmt(3) == "3" and fmt(2.345, 1, " ms") == "2.3 ms" and fmt(float("inf")) == "inf"
    assert finite({"psnr": float("inf"), "list": [1.0, float("nan")], "n": 2}) == {
        "psnr": None,
        "list": [1.0, None],
        "n": 2,
    }


def _result(name: str, psnr: float) -> BagResult:
    records = [
        FrameRecord(
            i,
            100 + i,
            i / 10,
            20.0 + i,
            18.0,
            quality={"rainy": Quality(psnr, 0.5, psnr, 0.5), "derained": Quality(psnr + 5, 0.8, psnr + 6, 0.8)},
        )
        for i in range(3)
    ]
    records[0].quality["rainy"] = Quality(float("inf"), 1.0, float("inf"), 1.0)  # a frame without rain
    return BagResult(
        name, f"/data/{name}", f"/out/bags/{name}", "/cam", "/cam/derained", "/clean",
        {"name": "onnxruntime", "device": "cpu", "precision": "fp32"}, "none", records, {}, 3, 3, 9, 9, None,
        "PSNR gain (dB, RGB)", [Thumbnail("best", 1, 101, 5.0, _png())], 1.5,
    )  # fmt: skip


def test_write_report_covers_every_bag_and_failure(tmp_path: Path) -> None:
    results = [_result("north", 15.0), _result("south", 17.0)]
    failures = [BagFailure("east", "/data/east", "cannot open bag (Header could not be read)")]
    html_path = write_report(tmp_path, results, failures, {"image_topic": "/cam"})
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [b["name"] for b in metrics["bags"]] == ["north", "south"] and metrics["failed"][0]["name"] == "east"
    assert metrics["bags"][0]["frames"][0]["quality"]["rainy"]["psnr_rgb"] is None  # inf is not JSON
    assert metrics["overall"]["frames"] == 6 and metrics["settings"] == {"image_topic": "/cam"}
    markdown = (tmp_path / "report.md").read_text()
    assert "| all bags | 6 |" in markdown and "**Failed** `/data/east`: cannot open bag" in markdown
    assert (tmp_path / "thumbnails" / "north-best-frame1.png").read_bytes() == _png()
    assert (tmp_path / "plots" / "south-latency.png").is_file() and html_path == tmp_path / "report.html"
    assert html_path.read_text().count("data:image/png;base64,") == 2 * (2 + 1)  # quality + latency plots, thumbnail


def _found(per_frame: float, frames: int = 3) -> dict[str, float | int | None]:
    return {"per_frame": per_frame, "mean_score": 0.7 if per_frame else None, "frames": frames}


def test_detections_without_ground_truth_have_no_empty_agreement_columns() -> None:
    found = {"rainy": _found(1.5), "derained": _found(2.0), "clean": _found(0.0, frames=0)}
    markdown = to_markdown(_detection_blocks("hog", found, {}))
    assert "| on frames | detections per frame | mean score |\n" in markdown
    assert "precision" not in markdown.split("\n\n")[1]  # the table, not the sentence
    assert "| derained | 2.00 | 0.70 |" in markdown and "without ground truth" in markdown


def test_detections_with_ground_truth_keep_precision_and_recall() -> None:
    found = {"rainy": _found(1.0), "derained": _found(1.0), "clean": _found(1.0)}
    agree = {variant: {"precision": 0.5, "recall": 0.25, "f1": 0.333} for variant in ("rainy", "derained")}
    markdown = to_markdown(_detection_blocks("hog", found, agree))
    assert "| on frames | detections per frame | mean score | precision | recall | F1 |" in markdown
    assert "| rainy | 1.00 | 0.70 | 0.500 | 0.250 | 0.333 |" in markdown


def test_a_detector_that_found_nothing_says_so() -> None:
    found = {"rainy": _found(0.0), "derained": _found(0.0), "clean": _found(0.0, frames=0)}
    (block,) = _detection_blocks("onnx:yolo.onnx", found, {})
    assert isinstance(block, Text) and "found nothing in any frame" in block.text


def test_brisque_comes_with_its_scale(tmp_path: Path) -> None:
    result = _result("north", 15.0)
    for record in result.records:
        record.quality = {}
        record.no_reference = {"rainy": 40.0, "derained": -3.0}
    write_report(tmp_path, [result], [], {})
    markdown = (tmp_path / "report.md").read_text()
    assert BRISQUE_SCALE in markdown and "below 0" in BRISQUE_SCALE
