from sapnet_ros.evaluation.pairing import StampPairer


def _pairer(given_up: list[str], tolerance: int = 2, horizon: int = 100) -> StampPairer[str, str]:
    return StampPairer(tolerance, horizon, on_unpaired=given_up.append)


def test_pairs_whichever_side_comes_first_by_nearest_stamp() -> None:
    given_up: list[str] = []
    pairer = _pairer(given_up)
    assert pairer.add_frame(10, "f10") is None
    assert pairer.add_reference(11, "r11") == ("f10", "r11")  # within tolerance
    assert pairer.add_reference(20, "r20") is None
    assert pairer.add_reference(23, "r23") is None
    assert pairer.add_frame(22, "f22") == ("f22", "r23")  # the nearer of r20 and r23
    assert pairer.add_frame(30, "f30") is None
    pairer.finish()
    assert given_up == ["f30"]


def test_frames_left_behind_by_the_horizon_are_given_up() -> None:
    given_up: list[str] = []
    pairer = _pairer(given_up, horizon=50)
    pairer.add_frame(0, "f0")
    pairer.add_reference(10, "r10")  # too far from f0 to pair
    pairer.add_frame(40, "f40")
    assert given_up == []
    pairer.add_frame(70, "f70")  # the stream is now more than 50 past f0 and r10
    assert given_up == ["f0"]
    assert pairer.add_frame(11, "late") is None  # r10 was dropped with the horizon


def test_a_repeated_stamp_gives_up_the_earlier_frame() -> None:
    given_up: list[str] = []
    pairer = _pairer(given_up)
    pairer.add_frame(5, "first")
    pairer.add_frame(5, "second")
    assert given_up == ["first"]
    assert pairer.add_reference(5, "r5") == ("second", "r5")
