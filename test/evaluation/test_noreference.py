import numpy as np
import pytest
from skimage import data

from sapnet_ros.evaluation.noreference import Brisque
from sapnet_ros.synthesis.rain import add_rain, styled


@pytest.fixture(scope="module")
def brisque() -> Brisque:
    return Brisque()


def test_matches_the_packages_own_score(brisque: Brisque) -> None:
    # brisque 0.2.0's BRISQUE().score() on these crops, computed with NumPy 2.3 (where it still runs).
    coffee = np.ascontiguousarray(data.coffee()[:120, :160])
    assert brisque.score(coffee, "rgb") == pytest.approx(30.535945085015754, abs=1e-8)
    assert brisque.score(np.ascontiguousarray(coffee[:, :, ::-1]), "bgr") == pytest.approx(30.535945085015754, abs=1e-8)
    camera = np.ascontiguousarray(data.camera()[:120, :160])  # grey
    assert brisque.score(camera, "rgb") == pytest.approx(57.97830690531677, abs=1e-8)


def test_rain_scores_worse_than_the_clean_photo(brisque: Brisque) -> None:
    clean = np.ascontiguousarray(data.coffee()[::2, ::2])
    rainy = add_rain(clean, styled("heavy"), seed=2)
    assert brisque.score(rainy, "rgb") > brisque.score(clean, "rgb") + 20


def test_sixteen_bit_and_alpha_score_like_eight_bit(brisque: Brisque) -> None:
    coffee = np.ascontiguousarray(data.coffee()[:96, :128])
    expected = brisque.score(coffee, "rgb")
    assert brisque.score(coffee.astype(np.uint16) * 257, "rgb") == pytest.approx(expected, abs=1e-6)
    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 9, np.uint8)])
    assert brisque.score(rgba, "rgb") == pytest.approx(expected)
