"""The rain gate: hysteresis, dwell and cross-fade per stream, and what a gated Derainer outputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sapnet_ros.backends.base import BackendBase
from sapnet_ros.derainer import Derainer
from sapnet_ros.gate.estimator import RainEstimator
from sapnet_ros.gate.rain_gate import GateSettings, RainGate, StreamGate
from sapnet_ros.gate.training import HELD_OUT_PHOTOS
from sapnet_ros.metrics import image_quality
from sapnet_ros.synthesis.photos import load_photo
from sapnet_ros.synthesis.rain import LIGHT, RainSynthesizer
from sapnet_ros.synthesis.sets import PROJECT_EVAL_STYLES

SIZE = (320, 240)  # width, height: the estimator is made for camera frames, not thumbnails


@pytest.fixture(scope="module")
def estimator() -> RainEstimator:
    return RainEstimator()


@pytest.fixture(scope="module")
def held_out() -> dict[str, np.ndarray]:
    """Clean held-out photos (never seen in the estimator's training): uint8 (120, 160, 3) RGB."""
    return {name: cv2.resize(load_photo(name), SIZE, interpolation=cv2.INTER_AREA) for name in HELD_OUT_PHOTOS}


def switches(levels: list[float], settings: GateSettings) -> list[int]:
    """Frame indices at which a fresh stream's gate switched, for a sequence of rain levels."""
    gate = StreamGate(settings)
    return [index for index, level in enumerate(levels) if gate.update(level).switched]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (dict(open_level=0.3, close_level=0.6), "close_level < open_level"),
        (dict(smoothing=0.0), "smoothing must be in (0, 1]"),
        (dict(dwell_frames=-1), "dwell_frames and fade_frames must be >= 0"),
    ],
)
def test_contradicting_settings_are_refused(values: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace("]", r"\]")):
        GateSettings(**values)  # type: ignore[arg-type]


def test_noisy_levels_with_outliers_switch_once_each_way() -> None:
    """Single-frame false alarms while dry (a splash, a wiper) and misses while raining do not flip the gate."""
    rng = np.random.default_rng(0)
    dry = np.clip(0.2 + rng.normal(0, 0.1, 40), 0, 1)
    rain = np.clip(0.8 + rng.normal(0, 0.1, 40), 0, 1)
    dry[3::6], rain[3::6] = 0.95, 0.05  # outliers beyond the other threshold
    levels = [*dry, *rain, *dry]
    opened, closed = switches(levels, GateSettings())
    assert 40 <= opened < 46 and 80 <= closed < 92
    assert len(switches(levels, GateSettings(smoothing=1.0, dwell_frames=0))) > 10  # without either: chatter


def test_dwell_holds_a_new_state() -> None:
    levels = [0.0] * 5 + [1.0] * 2 + [0.0] * 20
    assert switches(levels, GateSettings(smoothing=1.0, dwell_frames=0)) == [5, 7]
    assert switches(levels, GateSettings(smoothing=1.0, dwell_frames=6)) == [5, 11]


def test_cross_fade_ramps_the_derained_share_and_the_first_frame_decides_alone() -> None:
    gate = StreamGate(GateSettings(smoothing=1.0, dwell_frames=0, fade_frames=4))
    assert gate.update(0.9).weight == 1.0  # no history: derained at once, no fade
    weights = [gate.update(level).weight for level in [0.0] * 5 + [1.0] * 5]
    assert weights == [0.75, 0.5, 0.25, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert StreamGate(GateSettings()).update(0.44).weight == 0.0  # below the middle of the band: dry


def test_streams_have_gates_of_their_own(estimator: RainEstimator, held_out: dict[str, np.ndarray]) -> None:
    gate = RainGate(estimator, GateSettings(smoothing=1.0, dwell_frames=0, fade_frames=0))
    clean = held_out["coffee"]
    rainy = RainSynthesizer(LIGHT, seed=1).apply(clean)
    first = gate.decide([clean, rainy], "rgb", ["front", "rear"])
    assert [d.open for d in first] == [False, True] and first[0].level < 0.3 < 0.7 < first[1].level
    assert [d.open for d in gate.decide([rainy], "rgb", ["front"])] == [True]
    assert set(gate.streams) == {"front", "rear"} and gate.stream("rear").switches == 0
    with pytest.raises(ValueError, match="got 1 stream keys for 2 images"):
        gate.decide([clean, clean], "rgb", ["front"])


def test_dry_to_rain_to_dry_sequence_switches_once_each_way(
    estimator: RainEstimator, held_out: dict[str, np.ndarray]
) -> None:
    """A still camera (sensor noise on every frame): 12 dry frames, 24 of moving rain, 24 dry again."""
    clean = held_out["rocket"]
    rain = RainSynthesizer(LIGHT, seed=3)
    rng = np.random.default_rng(3)
    frames = []
    for index in range(60):
        frame = rain.apply(clean, index) if 12 <= index < 36 else clean
        frames.append(np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8))
    gate = RainGate(estimator)
    decisions = [gate.decide([frame], "rgb", ["cam"])[0] for frame in frames]
    switched = [index for index, decision in enumerate(decisions) if decision.switched]
    assert len(switched) == 2 and 12 <= switched[0] <= 16 and 36 <= switched[1] <= 46, switched
    assert all(d.weight == 0 for d in decisions[:12]) and decisions[switched[0] + 5].weight == 1.0
    assert decisions[-1].weight == 0 and not decisions[-1].open


def test_gated_output_is_the_input_when_dry_and_the_derained_output_when_raining(
    ort_backend: BackendBase, estimator: RainEstimator, held_out: dict[str, np.ndarray]
) -> None:
    """The acceptance test on the held-out photos: dry frames untouched, rainy ones lose <= 0.1 dB.

    Both Derainers process at half size (max_side): the gate looks at the full frame either way, and
    CPU tests stay short. The rainy frames are ones the gate opens on (chelsea with light rain scores
    0.42 and stays dry): this checks what an open gate outputs; recall is test_estimator's.
    """
    gated = Derainer(ort_backend, max_side=160, gate=RainGate(estimator))
    names = list(held_out)
    dry = gated.run_batch(list(held_out.values()), "rgb", [f"{name} dry" for name in names])
    assert dry.timing.inference_ms == 0.0  # nothing was derained: no backend call at all
    for name, clean, output in zip(names, held_out.values(), dry.images, strict=True):
        np.testing.assert_array_equal(output, clean, err_msg=name)
    rainy = {
        f"{name} {style}": RainSynthesizer(PROJECT_EVAL_STYLES[style], seed=7).apply(held_out[name])
        for name, style in [("coffee", "lightest"), ("rocket", "heavy slanted"), ("chelsea", "heavy slanted")]
    }
    outputs = gated.run_batch(list(rainy.values()), "rgb", list(rainy))
    assert outputs.gates is not None and all(decision.weight == 1.0 for decision in outputs.gates), outputs.gates
    ungated = Derainer(ort_backend, max_side=160).run_batch(list(rainy.values()), "rgb")
    for key, gated_output, ungated_output in zip(rainy, outputs.images, ungated.images, strict=True):
        clean = held_out[key.split()[0]]
        loss = image_quality(ungated_output, clean).psnr_rgb - image_quality(gated_output, clean).psnr_rgb
        assert loss <= 0.1, key


def test_cross_fading_frames_mix_input_and_derained(ort_backend: BackendBase, estimator: RainEstimator) -> None:
    settings = GateSettings(smoothing=1.0, dwell_frames=0, fade_frames=2)
    gated = Derainer(ort_backend, max_side=64, gate=RainGate(estimator, settings))  # gate on the full frame
    plain = Derainer(ort_backend, max_side=64)
    clean = cv2.resize(load_photo("coffee"), SIZE, interpolation=cv2.INTER_AREA)
    rainy = RainSynthesizer(LIGHT, seed=1).apply(clean)
    gated.run(clean, "rgb", "cam")  # the first frame: dry
    result = gated.run_batch([rainy], "rgb", ["cam"])
    halfway = result.images[0]
    assert result.gates is not None and result.gates[0].weight == 0.5 and result.timing.gate_ms > 0
    derained = plain.run(rainy, "rgb")
    expected = np.rint((rainy.astype(np.float32) + derained) / 2)
    assert np.abs(halfway.astype(np.float32) - expected).max() <= 1
    np.testing.assert_array_equal(gated.run(rainy, "rgb", "cam"), derained)
