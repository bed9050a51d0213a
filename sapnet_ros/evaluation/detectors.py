"""Object detectors for the downstream-impact figures, and how two sets of detections agree.

Built in: OpenCV's HOG people detector (Dalal & Triggs 2005), whose SVM ships
inside OpenCV 4.x. ``onnx:PATH``: any ONNX object detector with a YOLO-style
output, read by a small adapter that accepts either layout:

* YOLOv8/v11: one output (1, 4 + C, N): box centre x, centre y, width, height,
  then C class scores, for N candidate boxes;
* YOLOv5/v7: one output (1, N, 5 + C): the box, an objectness score, then C
  class scores (confidence = objectness x best class score).

The adapter letterboxes the frame into the network's input (grey 114 padding,
as Ultralytics does), applies a confidence threshold and per-class NMS, and maps
the boxes back to frame pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort

from sapnet_ros.errors import DetectorError
from sapnet_ros.frames import ColorOrder, to_bgr8, to_network
from sapnet_ros.model.sessions import inference_session

LOG = logging.getLogger(__name__)
DETECTORS = ("hog", "none", "onnx:PATH")
LETTERBOX_GREY = 114 / 255


@dataclass(frozen=True)
class Detection:
    """One box in frame pixels: corners (x1, y1) top left and (x2, y2) bottom right, score, class index."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    label: int = 0


class Detector(Protocol):
    """Finds objects in one frame."""

    name: str

    def detect(self, image: np.ndarray, order: ColorOrder) -> list[Detection]:
        """Detect in (H, W[, C]) uint8/uint16, colours in ``order``."""


class HogPeopleDetector:
    """OpenCV's default HOG + linear SVM pedestrian detector; scores are SVM margins, not probabilities."""

    name = "hog"
    WINDOW = (64, 128)  # width, height of the detection window

    def __init__(self, hit_threshold: float = 0.0, scale: float = 1.05) -> None:
        self.hit_threshold = hit_threshold
        self.scale = scale
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
        self._warned = False

    def detect(self, image: np.ndarray, order: ColorOrder) -> list[Detection]:
        frame = to_bgr8(image, order)
        if frame.shape[1] < self.WINDOW[0] or frame.shape[0] < self.WINDOW[1]:
            if not self._warned:
                LOG.warning("hog: %dx%d frames are smaller than its %dx%d window; it finds nothing in them",
                            frame.shape[1], frame.shape[0], *self.WINDOW)  # fmt: skip
                self._warned = True
            return []
        rects, weights = self._hog.detectMultiScale(
            frame, hitThreshold=self.hit_threshold, winStride=(8, 8), padding=(8, 8), scale=self.scale
        )
        return [
            Detection(float(x), float(y), float(x + w), float(y + h), float(score))
            for (x, y, w, h), score in zip(rects, np.ravel(weights), strict=True)
        ]


class YoloOnnxDetector:
    """An ONNX detector with a YOLO-style output (see the module docstring), run by ONNX Runtime on CPU.

    Args:
        path: the ``.onnx`` file; one (1, 3, H, W) RGB [0, 1] input, one YOLO output.
        confidence: minimum score kept.
        iou: NMS overlap threshold, per class.
        threads: intra-op threads; 0 = library default.
        default_size: input side used when the model's height/width are dynamic.
    """

    name = "onnx"

    def __init__(
        self, path: Path, confidence: float = 0.25, iou: float = 0.45, threads: int = 0, default_size: int = 640
    ) -> None:
        settings = ort.SessionOptions()
        if threads:
            settings.intra_op_num_threads = threads
        self._session = inference_session(path, settings, error=DetectorError)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(outputs[0].shape) != 3:
            raise DetectorError(
                f"{path}: expected one (1, 3, H, W) input and a 3-D YOLO output, got inputs "
                f"{[i.shape for i in inputs]} and outputs {[o.shape for o in outputs]}"
            )
        height, width = inputs[0].shape[2:]
        self.size = (
            height if isinstance(height, int) else default_size,
            width if isinstance(width, int) else default_size,
        )
        self._input, self._output = inputs[0].name, outputs[0].name
        self.name = f"onnx:{path.name}"
        self.confidence, self.iou = confidence, iou
        LOG.info("detector %s: input %s %s (runs at %s), output %s %s", path, self._input,
                 inputs[0].shape, self.size, self._output, outputs[0].shape)  # fmt: skip

    def detect(self, image: np.ndarray, order: ColorOrder) -> list[Detection]:
        batch, scale, pad_x, pad_y = letterbox(image, order, *self.size)
        (output,) = self._session.run([self._output], {self._input: batch[None]})
        boxes, scores, labels = decode_yolo(np.asarray(output)[0])
        keep = scores >= self.confidence
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        corners = boxes[:, :2] - boxes[:, 2:] / 2  # (N, 2) top-left from centre
        xywh = np.concatenate([corners, boxes[:, 2:]], axis=1)
        chosen = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), labels.tolist(), self.confidence, self.iou)
        detections = []
        for i in np.ravel(chosen).astype(int):
            x, y, w, h = (float(v) for v in xywh[i])
            x1, y1 = (x - pad_x) / scale, (y - pad_y) / scale
            detections.append(Detection(x1, y1, x1 + w / scale, y1 + h / scale, float(scores[i]), int(labels[i])))
        return detections


def letterbox(image: np.ndarray, order: ColorOrder, height: int, width: int) -> tuple[np.ndarray, float, float, float]:
    """Fit a frame into a (height, width) network input without distortion.

    Returns:
        float32 (3, height, width) RGB [0, 1], the scale applied, and the x and
        y padding (network pixels) before the image.
    """
    scale = min(height / image.shape[0], width / image.shape[1])
    new_h, new_w = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if image.ndim == 3 and resized.ndim == 2:
        resized = resized[:, :, None]  # OpenCV drops a single channel axis
    canvas = np.full((3, height, width), LETTERBOX_GREY, np.float32)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[:, top : top + new_h, left : left + new_w] = to_network(resized, order)
    return canvas, scale, float(left), float(top)


def decode_yolo(output: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split one image's YOLO output into boxes (N, 4) cx, cy, w, h, scores (N,) and class indices (N,).

    (4 + C, N) with fewer rows than columns is the YOLOv8 layout; (N, 5 + C) is YOLOv5's.
    """
    if output.ndim != 2:
        raise DetectorError(f"YOLO output per image must be 2-D, got shape {output.shape}")
    if output.shape[0] < output.shape[1]:  # YOLOv8: (4 + C, N)
        predictions = output.T
        classes = predictions[:, 4:]
        objectness = np.ones(len(predictions), np.float32)
    else:  # YOLOv5: (N, 5 + C)
        predictions = output
        classes = predictions[:, 5:] if predictions.shape[1] > 5 else np.ones((len(predictions), 1), np.float32)
        objectness = predictions[:, 4]
    if predictions.shape[1] < 5:
        raise DetectorError(f"YOLO output {output.shape} has no room for a box and a score")
    labels = classes.argmax(axis=1)
    scores = objectness * classes[np.arange(len(classes)), labels]
    return predictions[:, :4].astype(np.float32), scores.astype(np.float32), labels


def create_detector(spec: str, threads: int = 0) -> Detector | None:
    """The detector named by ``spec`` (``hog``, ``none`` or ``onnx:PATH``); None for ``none``."""
    if spec == "none":
        return None
    if spec == "hog":
        return HogPeopleDetector()
    if spec.startswith("onnx:"):
        return YoloOnnxDetector(Path(spec[len("onnx:") :]), threads=threads)
    raise DetectorError(f"unknown detector {spec!r}; choose one of: {', '.join(DETECTORS)}")


@dataclass(frozen=True)
class Agreement:
    """Detections matched against reference detections (those on the clean frame)."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.false_negatives + other.false_negatives,
        )

    @property
    def precision(self) -> float | None:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else None

    @property
    def recall(self) -> float | None:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else None

    @property
    def f1(self) -> float | None:
        total = 2 * self.true_positives + self.false_positives + self.false_negatives
        return 2 * self.true_positives / total if total else None


def iou(a: Detection, b: Detection) -> float:
    """Intersection over union of two boxes."""
    width = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    height = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    intersection = width * height
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - intersection
    return intersection / union if union > 0 else 0.0


def agreement(found: list[Detection], reference: list[Detection], threshold: float = 0.5) -> Agreement:
    """Greedy matching, most confident first, to the unmatched reference box of the same class with the best IoU."""
    unmatched = list(reference)
    hits = 0
    for detection in sorted(found, key=lambda d: d.score, reverse=True):
        candidates = [(iou(detection, r), i) for i, r in enumerate(unmatched) if r.label == detection.label]
        best = max(candidates, default=(0.0, -1))
        if best[0] >= threshold:
            unmatched.pop(best[1])
            hits += 1
    return Agreement(hits, len(found) - hits, len(unmatched))
