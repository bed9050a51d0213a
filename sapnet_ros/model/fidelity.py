"""How close a model's outputs stay to a reference model's and to clean photos (the int8 quality gate).

``set_fidelity`` measures the same per evaluation set (``synthesis/sets.py``:
generators, styles and scenes the int8 calibration never saw), mean and worst
frame, on RGB and Y.

The inputs are the held-out evaluation photos with synthesized rain (clean
versions known) and the official Rain100H sample (no clean version). Models
run on ONNX Runtime's CPU provider at native size, one frame at a time, so the
figures depend on nothing but the two ONNX files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from sapnet_ros.frames import from_network, to_network
from sapnet_ros.io.images import read_image
from sapnet_ros.metrics import image_quality
from sapnet_ros.model.sessions import inference_session
from sapnet_ros.resources import sample_images
from sapnet_ros.synthesis.rain import photo_pairs
from sapnet_ros.synthesis.sets import EvalSet, Frame

SAMPLE = "rain100h_064_rain.jpg"  # the official Rain100H sample (no clean version ships)
Size = tuple[int, int]  # (height, width)
Inputs = list[tuple[str, np.ndarray, np.ndarray | None]]  # (label, rainy, clean or None), uint8 RGB


def sample_photo() -> np.ndarray:
    """The official sample (``SAMPLE``) as stored: uint8 (H, W, 3) BGR."""
    return read_image(next(path for path in sample_images() if path.name == SAMPLE))


def quality_inputs(size: Size) -> Inputs:
    """The evaluation photo pairs and the official sample (no clean version), all at ``size``."""
    inputs: Inputs = list(photo_pairs(*size))
    sample = sample_photo()[:, :, ::-1]
    inputs.append(("sample", cv2.resize(sample, (size[1], size[0]), interpolation=cv2.INTER_AREA), None))
    return inputs


def compare(outputs: tuple[np.ndarray, ...], reference: tuple[np.ndarray, ...], inputs: Inputs) -> dict[str, float]:
    """Quality of ``outputs`` against the fp32 reference outputs and against the clean photos.

    Returns:
        ``psnr_vs_fp32_db`` / ``ssim_vs_fp32`` (worst over the photo pairs),
        ``sample_psnr_vs_fp32_db`` (the official sample), ``psnr_gt_db`` /
        ``ssim_gt`` (means over the pairs) and ``gt_loss_db`` (the fp32
        reference's mean PSNR against the clean photos minus ours; > 0 is worse).
    """
    versus_fp32 = [image_quality(out, ref) for out, ref in zip(outputs, reference, strict=True)]
    paired = [index for index, (_, _, clean) in enumerate(inputs) if clean is not None]
    ours = [image_quality(outputs[index], inputs[index][2]) for index in paired]  # type: ignore[arg-type]
    theirs = [image_quality(reference[index], inputs[index][2]) for index in paired]  # type: ignore[arg-type]
    sample = next(index for index, (label, _, _) in enumerate(inputs) if label == "sample")
    return {
        "psnr_vs_fp32_db": round(min(versus_fp32[index].psnr_rgb for index in paired), 2),
        "ssim_vs_fp32": round(min(versus_fp32[index].ssim_rgb for index in paired), 5),
        "sample_psnr_vs_fp32_db": round(versus_fp32[sample].psnr_rgb, 2),
        "psnr_gt_db": round(float(np.mean([q.psnr_rgb for q in ours])), 3),
        "ssim_gt": round(float(np.mean([q.ssim_rgb for q in ours])), 5),
        "gt_loss_db": round(float(np.mean([t.psnr_rgb - o.psnr_rgb for t, o in zip(theirs, ours, strict=True)])), 3),
    }


def run_model(onnx_path: Path, images: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """``onnx_path``'s outputs for uint8 (H, W, 3) RGB ``images``, each as uint8 RGB of the same shape."""
    session = inference_session(onnx_path)
    name = session.get_inputs()[0].name
    return tuple(from_network(session.run(None, {name: to_network(image)[None]})[0][0], like=image) for image in images)


def compare_models(reference_onnx: Path, candidate_onnx: Path, size: Size = (240, 320)) -> dict[str, float]:
    """Quality of an int8 ONNX model against its fp32 graph, both on ONNX Runtime (CPU), in this process."""
    inputs = quality_inputs(size)
    rainy = [image for _, image, _ in inputs]
    return compare(run_model(candidate_onnx, rainy), run_model(reference_onnx, rainy), inputs)


@dataclass(frozen=True)
class SetFidelity:
    """How a candidate (int8) model does on one paired evaluation set, against the reference (fp32), vs ground truth.

    Attributes:
        name: the evaluation set.
        frames: frames measured.
        gain_rgb_db / gain_y_db: the reference's mean PSNR against ground truth minus the rainy input's.
        loss_mean_rgb_db / loss_mean_y_db: mean over frames of the reference's PSNR minus the candidate's.
        loss_worst_rgb_db / loss_worst_y_db: the largest of those per-frame losses.
    """

    name: str
    frames: int
    gain_rgb_db: float
    gain_y_db: float
    loss_mean_rgb_db: float
    loss_worst_rgb_db: float
    loss_mean_y_db: float
    loss_worst_y_db: float

    def as_dict(self) -> dict[str, object]:
        return {key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(self).items()}


def spread(frames: tuple[Frame, ...], limit: int) -> list[Frame]:
    """At most ``limit`` frames picked evenly through ``frames`` (photo crops and textures alike)."""
    if len(frames) <= limit:
        return list(frames)
    return [frames[int(index)] for index in np.linspace(0, len(frames) - 1, limit).round()]


def set_fidelity(
    reference_onnx: Path, candidate_onnx: Path, evaluation_sets: list[EvalSet], limit: int = 8
) -> list[SetFidelity]:
    """``SetFidelity`` of each paired, rainy set (at most ``limit`` frames each), both models on ONNX Runtime (CPU)."""
    chosen = {s.name: spread(s.frames, limit) for s in evaluation_sets if s.paired and all(f.rainy for f in s.frames)}
    images = [frame.image for frames in chosen.values() for frame in frames]
    reference, candidate = run_model(reference_onnx, images), run_model(candidate_onnx, images)
    results, start = [], 0
    for name, frames in chosen.items():
        stop = start + len(frames)
        truth = [frame.clean for frame in frames]
        ours = [image_quality(out, clean) for out, clean in zip(candidate[start:stop], truth, strict=True)]  # type: ignore[arg-type]
        theirs = [image_quality(out, clean) for out, clean in zip(reference[start:stop], truth, strict=True)]  # type: ignore[arg-type]
        rainy = [image_quality(frame.image, frame.clean) for frame in frames]  # type: ignore[arg-type]
        loss_rgb = [t.psnr_rgb - o.psnr_rgb for t, o in zip(theirs, ours, strict=True)]
        loss_y = [t.psnr_y - o.psnr_y for t, o in zip(theirs, ours, strict=True)]
        results.append(
            SetFidelity(
                name=name,
                frames=len(frames),
                gain_rgb_db=float(np.mean([t.psnr_rgb - r.psnr_rgb for t, r in zip(theirs, rainy, strict=True)])),
                gain_y_db=float(np.mean([t.psnr_y - r.psnr_y for t, r in zip(theirs, rainy, strict=True)])),
                loss_mean_rgb_db=float(np.mean(loss_rgb)),
                loss_worst_rgb_db=float(np.max(loss_rgb)),
                loss_mean_y_db=float(np.mean(loss_y)),
                loss_worst_y_db=float(np.max(loss_y)),
            )
        )
        start = stop
    return results
