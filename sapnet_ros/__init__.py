"""sapnet_ros: real-time rain removal for ROS 2 camera images with SAPNet.

Layers, lowest first; a module imports only from its own layer or below
(``test/test_layers.py`` checks it, and that there are no import cycles):

0. ``errors``, ``commands``, ``resources``, ``frames``: exception types, the
   console scripts' one-line errors and interrupts, shipped files and caches,
   pixels (colour orders, scales, array <-> network layout).
1. ``io/`` (image files, sensor_msgs conversions, bags, atomic writes),
   ``metrics`` (PSNR/SSIM), ``synthesis/`` (rain synthesizer, clean photos).
2. ``model/``: SAPNet, weights, ONNX export, fused graph, int8 quantization.
3. ``backends/``: torch, onnxruntime, tensorrt behind one protocol; engine cache.
4. ``gate/``: rain estimator, rain gate, the estimator's training.
5. ``settings``, ``derainer``, ``pipeline``: how to derain (one settings
   object) and the one frame path every consumer shares.
6. Tools on top: ``ros/`` (node, replay), ``cli/``, ``evaluation/``,
   ``training/``, ``bench/``.
"""

import os

__version__ = "0.1.0"

# ONNX Runtime's telemetry (on Linux too since 1.2x) writes a queue of events (interpreter path, OS, CPU,
# error texts) under ~/.cache/Microsoft as soon as onnxruntime is imported; a perception node should not,
# unless its user asks (docs/privacy.md). Set here, before any module of the package can import onnxruntime.
TELEMETRY_SWITCH = "SAPNET_ORT_TELEMETRY"
if os.environ.get(TELEMETRY_SWITCH) != "1":
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "commands", "resources", "frames"),
    ("io", "metrics", "synthesis"),
    ("model",),
    ("backends",),
    ("gate",),
    ("settings", "derainer", "pipeline"),
    ("ros", "cli", "evaluation", "training", "bench"),
)
