"""How close a model's outputs stay to a reference model's and to clean photos (the int8 quality gate).

The inputs are the held-out evaluation photos with synthesized rain (clean
versions known) and the official Rain100H sample (no clean version). Models
run on ONNX Runtime's CPU provider at native size, one frame at a time, so the
figures depend on nothing but the two ONNX files.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sapnet_ros.frames import from_network, to_network
from sapnet_ros.io.images import read_image
from sapnet_ros.metrics import image_quality
from sapnet_ros.model.sessions import inference_session
from sapnet_ros.resources import sample_images
from sapnet_ros.synthesis.rain import photo_pairs

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
