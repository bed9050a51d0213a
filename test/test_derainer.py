import numpy as np
import pytest
from conftest import tiny_rgb

from sapnet_ros.backends.base import BackendBase
from sapnet_ros.derainer import Derainer
from sapnet_ros.errors import ImageFormatError
from sapnet_ros.frames import LUMA_BT601, from_network, resize_chw, to_network


@pytest.mark.parametrize(
    "image",
    [
        tiny_rgb(),
        tiny_rgb()[:, :, :1],
        tiny_rgb()[:, :, 0],
        np.dstack([tiny_rgb(), tiny_rgb(seed=1)[:, :, :1]]),
        tiny_rgb().astype(np.uint16) * 257 + 3,
    ],
    ids=["rgb8", "grey-hw1", "grey-hw", "rgba8", "rgb16"],
)
def test_conversion_round_trip_is_exact(image: np.ndarray) -> None:
    tensor = to_network(image)
    assert tensor.dtype == np.float32 and tensor.shape == (3, *image.shape[:2])
    assert tensor.min() >= 0 and tensor.max() <= 1
    restored = from_network(tensor, like=image)
    assert restored.dtype == image.dtype and restored.shape == image.shape
    np.testing.assert_array_equal(restored, image)  # grey: the luma of equal channels is the grey value


def test_bgr_order_is_mirrored() -> None:
    rgb = tiny_rgb()
    np.testing.assert_array_equal(to_network(rgb[:, :, ::-1], "bgr"), to_network(rgb, "rgb"))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "unsupported pixel type float32"),
        (np.zeros((4, 4, 2), np.uint8), "unsupported image shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty image"),
    ],
)
def test_bad_arrays_are_refused(image: np.ndarray, message: str) -> None:
    with pytest.raises(ImageFormatError, match=message):
        to_network(image)


def test_colour_orders_give_the_same_pixels(torch_backend: BackendBase) -> None:
    derainer = Derainer(torch_backend)
    rgb = tiny_rgb()
    np.testing.assert_array_equal(derainer.run(rgb[:, :, ::-1].copy(), "bgr"), derainer.run(rgb, "rgb")[:, :, ::-1])


def test_grey_is_luma_of_colour_result(torch_backend: BackendBase) -> None:
    derainer = Derainer(torch_backend)
    grey = tiny_rgb()[:, :, 1]
    as_colour = derainer.run(np.dstack([grey] * 3))
    expected = np.rint(as_colour.astype(np.float32) @ LUMA_BT601)
    assert np.abs(derainer.run(grey).astype(np.float32) - expected).max() <= 1


def test_alpha_passes_through(torch_backend: BackendBase) -> None:
    derainer = Derainer(torch_backend)
    rgba = np.dstack([tiny_rgb(), tiny_rgb(seed=3)[:, :, 0]])
    out = derainer.run(rgba)
    np.testing.assert_array_equal(out[:, :, 3], rgba[:, :, 3])
    np.testing.assert_array_equal(out[:, :, :3], derainer.run(rgba[:, :, :3].copy()))


def test_sixteen_bit_is_scaled_not_truncated(torch_backend: BackendBase) -> None:
    derainer = Derainer(torch_backend)
    rgb8 = tiny_rgb()
    out16 = derainer.run(rgb8.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16 and out16.max() > 255
    assert np.abs(out16 / 257.0 - derainer.run(rgb8)).max() <= 1.0


def test_batch_equals_single_frames(torch_backend: BackendBase) -> None:
    derainer = Derainer(torch_backend)
    images = [tiny_rgb(seed=s) for s in range(3)]
    for single, batched in zip([derainer.run(i) for i in images], derainer.run_batch(images).images, strict=True):
        assert np.abs(single.astype(int) - batched).max() <= 1


def test_max_side_resizes_back(torch_backend: BackendBase) -> None:
    derainer = Derainer(torch_backend, max_side=16)
    image = tiny_rgb(24, 40)
    assert derainer.processing_size(24, 40) == (10, 16)
    result = derainer.run_batch([image])
    assert result.images[0].shape == image.shape
    assert result.timing.inference_ms > 0


def test_fast_mode_subtracts_the_upsampled_rain_layer(torch_backend: BackendBase) -> None:
    image = tiny_rgb(24, 32, seed=4)
    derainer = Derainer(torch_backend, fast_scale=0.5)
    assert derainer.processing_size(24, 32) == (12, 16)
    full = to_network(image)  # (3, 24, 32)
    low = resize_chw(full, 12, 16)
    rain = low - torch_backend.infer(low[None])[0]  # what the network removed at half size
    expected = from_network(full - resize_chw(rain, 24, 32), like=image)
    np.testing.assert_array_equal(derainer.run(image), expected)


def test_fast_mode_and_max_side_combine_and_are_validated(torch_backend: BackendBase) -> None:
    assert Derainer(torch_backend, max_side=20, fast_scale=0.5).processing_size(60, 80) == (15, 20)
    for bad in (0.0, 1.5, -0.5):
        with pytest.raises(ValueError, match="fast_scale must be in"):
            Derainer(torch_backend, fast_scale=bad)


def test_mixed_sizes_in_one_batch_are_refused(torch_backend: BackendBase) -> None:
    with pytest.raises(ImageFormatError, match="share height and width"):
        Derainer(torch_backend).run_batch([tiny_rgb(8, 8), tiny_rgb(8, 9)])
