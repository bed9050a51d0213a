import numpy as np
import pytest
from conftest import tiny_rgb

from sapnet_ros.metrics import image_quality
from sapnet_ros.synthesis.rain import HEAVY, LIGHT, RainStyle, RainSynthesizer, add_rain, styled


def test_seeded_and_reproducible() -> None:
    clean = tiny_rgb(40, 50)
    np.testing.assert_array_equal(add_rain(clean, seed=4), add_rain(clean, seed=4))
    assert not np.array_equal(add_rain(clean, seed=4), add_rain(clean, seed=5))


def test_heavier_rain_degrades_more() -> None:
    clean = np.full((60, 80, 3), 90, np.uint8)
    light = image_quality(add_rain(clean, LIGHT, seed=1), clean).psnr_rgb
    heavy = image_quality(add_rain(clean, HEAVY, seed=1), clean).psnr_rgb
    assert heavy < light < 40


def test_streaks_only_brighten() -> None:
    clean = tiny_rgb(30, 30)
    rainy = add_rain(clean, RainStyle(haze=0.0), seed=2)
    assert (rainy.astype(int) >= clean.astype(int) - 1).all()  # screen blend, rounding aside


def test_rain_moves_between_frames_and_is_periodic() -> None:
    synth = RainSynthesizer(RainStyle(speed=5, angle=0, angle_jitter=0), seed=0)
    first, second = synth.rain_layer(32, 40, 0), synth.rain_layer(32, 40, 1)
    assert not np.array_equal(first, second)
    np.testing.assert_allclose(second[5:], first[:-5], atol=1e-6)  # fell by 5 px
    assert synth.rain_layer(32, 40, 0).shape == (32, 40)


@pytest.mark.parametrize(
    "image",
    [tiny_rgb()[:, :, 0], np.dstack([tiny_rgb(), tiny_rgb()[:, :, :1]]), tiny_rgb().astype(np.uint16) * 257],
    ids=["grey", "rgba", "rgb16"],
)
def test_any_layout_keeps_its_shape_dtype_and_alpha(image: np.ndarray) -> None:
    rainy = add_rain(image, seed=0)
    assert rainy.shape == image.shape and rainy.dtype == image.dtype
    if image.ndim == 3 and image.shape[2] == 4:
        np.testing.assert_array_equal(rainy[:, :, 3], image[:, :, 3])


def test_invalid_styles_are_refused() -> None:
    with pytest.raises(ValueError, match=r"density=0\.5"):
        RainStyle(density=0.5)
    with pytest.raises(ValueError, match="unknown rain style 'drizzle'"):
        styled("drizzle")
    assert styled("light", angle=-20.0).angle == -20.0
