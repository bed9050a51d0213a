import cv2
import numpy as np

from sapnet_ros.evaluation.thumbnails import GAP, ThumbnailPicker, side_by_side


def test_keeps_the_best_and_worst_frames_and_draws_only_those() -> None:
    picker = ThumbnailPicker(2)
    drawn: list[int] = []

    def draw(index: int) -> bytes:
        drawn.append(index)
        return f"png{index}".encode()

    scores = [3.0, 9.0, -1.0, 5.0, 4.0, 4.5, -2.0]
    for index, score in enumerate(scores):
        picker.offer(score, index, 100 + index, lambda index=index: draw(index))
    picked = picker.picked()
    assert [(t.kind, t.index, t.score) for t in picked] == [
        ("best", 1, 9.0), ("best", 3, 5.0), ("worst", 6, -2.0), ("worst", 2, -1.0)
    ]  # fmt: skip
    assert picked[0].png == b"png1" and picked[0].stamp_ns == 101
    assert 4 not in drawn and 5 not in drawn  # never among the kept ones when offered


def test_few_frames_are_not_shown_twice() -> None:
    picker = ThumbnailPicker(3)
    for index, score in enumerate([1.0, 2.0]):
        picker.offer(score, index, index, lambda: b"png")
    assert [(t.kind, t.index) for t in picker.picked()] == [("best", 1), ("best", 0)]


def test_side_by_side_scales_panels_to_one_height() -> None:
    colour = np.full((48, 64, 3), 200, np.uint8)
    grey = np.zeros((24, 32), np.uint8)
    row = cv2.imdecode(np.frombuffer(side_by_side([colour, grey], height=96), np.uint8), cv2.IMREAD_COLOR)
    assert row.shape == (96, 128 + GAP + 128, 3)
    assert (row[:, :128] == 200).all() and (row[:, 128 : 128 + GAP] == 255).all() and (row[:, -128:] == 0).all()
