from pathlib import Path

import numpy as np
import pytest
from skimage import data

from sapnet_ros.errors import DetectorError
from sapnet_ros.evaluation.detectors import (
    Detection,
    HogPeopleDetector,
    YoloOnnxDetector,
    agreement,
    create_detector,
    decode_yolo,
    iou,
)


def test_hog_finds_the_astronaut() -> None:
    image = np.ascontiguousarray(data.astronaut())  # (512, 512, 3) RGB portrait
    (person,) = HogPeopleDetector().detect(image, "rgb")
    assert person.label == 0 and person.score > 0
    assert 0 <= person.x1 < person.x2 <= 512 and 0 <= person.y1 < person.y2 <= 512
    assert person.y2 - person.y1 >= 128  # at least one 64x128 window


def test_hog_warns_once_about_frames_smaller_than_its_window(caplog: pytest.LogCaptureFixture) -> None:
    detector = HogPeopleDetector()
    assert detector.detect(np.zeros((48, 64, 3), np.uint8), "rgb") == []
    assert detector.detect(np.zeros((48, 64), np.uint16), "rgb") == []
    assert [r.getMessage() for r in caplog.records] == [
        "hog: 64x48 frames are smaller than its 64x128 window; it finds nothing in them"
    ]


def test_yolo_v8_layout_boxes_map_back_through_the_letterbox(detector_onnx: Path) -> None:
    frame = np.zeros((48, 64, 3), np.uint8)  # letterboxed into 64x64 with 8 grey rows above and below
    frame[0:16, 16:32] = 255
    found = YoloOnnxDetector(detector_onnx).detect(frame, "rgb")
    boxes = sorted((d.x1, d.y1, d.x2, d.y2) for d in found)
    assert boxes == [(16, 0, 24, 8), (16, 8, 24, 16), (24, 0, 32, 8), (24, 8, 32, 16)]
    assert all(d.score == pytest.approx(1.0) and d.label == 0 for d in found)


def test_yolo_boxes_scale_back_from_a_smaller_network_input(detector_onnx: Path) -> None:
    frame = np.zeros((128, 128), np.uint8)  # grey, twice the network's side
    frame[32:64, 96:128] = 255
    found = YoloOnnxDetector(detector_onnx).detect(frame, "rgb")
    assert sorted((d.x1, d.y1, d.x2, d.y2) for d in found) == [
        (96, 32, 112, 48), (96, 48, 112, 64), (112, 32, 128, 48), (112, 48, 128, 64)
    ]  # fmt: skip


def test_yolo_v5_layout_multiplies_objectness_and_class_score() -> None:
    rows = np.array(
        [[10, 10, 4, 4, 0.5, 0.2, 0.8], [30, 30, 6, 6, 0.9, 0.7, 0.1]] + [[0, 0, 1, 1, 0, 0, 0]] * 6, np.float32
    )  # (N=8, 5 + 2 classes): more rows than columns
    boxes, scores, labels = decode_yolo(rows)
    assert scores[:2] == pytest.approx([0.4, 0.63]) and labels[:2].tolist() == [1, 0]
    assert boxes[1].tolist() == [30, 30, 6, 6]
    v8 = decode_yolo(np.ascontiguousarray(np.delete(rows, 4, axis=1).T))  # (4 + 2, 8): v8, no objectness
    assert v8[1][:2] == pytest.approx([0.8, 0.7])


def test_agreement_matches_same_class_boxes_at_iou_half() -> None:
    reference = [Detection(0, 0, 10, 10, 0.9), Detection(20, 20, 30, 30, 0.9), Detection(50, 50, 60, 60, 0.9, label=1)]
    found = [
        Detection(1, 0, 11, 10, 0.8),  # IoU 0.82 with the first
        Detection(25, 20, 35, 30, 0.7),  # IoU 1/3 with the second: a miss
        Detection(50, 50, 60, 60, 0.6, label=2),  # right place, wrong class
    ]
    assert iou(found[0], reference[0]) == pytest.approx(90 / 110)
    result = agreement(found, reference)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 2, 2)
    assert result.precision == pytest.approx(1 / 3) and result.recall == pytest.approx(1 / 3)
    assert result.f1 == pytest.approx(1 / 3)
    empty = agreement([], [])
    assert empty.precision is None and empty.recall is None and empty.f1 is None


def test_unknown_detectors_and_unreadable_models_are_refused(tmp_path: Path) -> None:
    assert create_detector("none") is None
    with pytest.raises(DetectorError, match="unknown detector 'yolo'"):
        create_detector("yolo")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(DetectorError, match=r"bad\.onnx: not a readable ONNX model \(\[ONNXRuntimeError\]"):
        create_detector(f"onnx:{tmp_path / 'bad.onnx'}")
