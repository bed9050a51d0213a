import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import onnx
import pytest

from sapnet_ros.backends import engine_build
from sapnet_ros.backends.engine_cache import (
    EngineKey,
    Profile,
    check_cached,
    fit_size,
    format_size,
    has_qdq,
    parse_size,
    read_sidecar,
    sidecar_path,
    uses_strong_typing,
    write_sidecar,
)
from sapnet_ros.errors import BackendError
from sapnet_ros.resources import default_onnx

KEY = EngineKey("10.3.0", "Orin", "8.7", "fp16", Profile(), "ab" * 32)


def test_sizes_are_width_by_height() -> None:
    assert parse_size("640x480") == (480, 640) and parse_size(" 1920 X 1080 ") == (1080, 1920)
    assert format_size((480, 640)) == "640x480"
    for bad in ("640", "640x", "0x480", "640x480x3", "axb"):
        with pytest.raises(ValueError, match=f"invalid size {bad!r}"):
            parse_size(bad)


def test_default_profile_covers_qvga_to_1080p() -> None:
    profile = Profile()
    assert profile.contains(240, 320) and profile.contains(1080, 1920) and profile.contains(480, 640)
    assert not profile.contains(1200, 1920) and not profile.contains(120, 160)
    assert profile.shapes() == ((1, 3, 240, 320), (1, 3, 480, 640), (1, 3, 1080, 1920))
    assert Profile(max_batch=4).shapes()[2] == (4, 3, 1080, 1920)


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        (((480, 640), (240, 320), (1080, 1920)), "min <= opt"),
        (((240, 320), (480, 2000), (1080, 1920)), "opt <= max"),
        (((0, 320), (480, 640), (1080, 1920)), "min <= opt"),
    ],
)
def test_inconsistent_profiles_are_refused(bounds: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        Profile(*bounds)
    with pytest.raises(ValueError, match="max_batch"):
        Profile(max_batch=0)


def test_fit_size_keeps_sizes_inside_and_the_aspect_ratio_where_it_can() -> None:
    profile = Profile()
    assert fit_size(480, 640, profile) == (480, 640)
    assert fit_size(2160, 3840, profile) == (1080, 1920)  # 4K shrinks by 2
    assert fit_size(120, 160, profile) == (240, 320)  # QQVGA grows by 2
    assert fit_size(1200, 1200, profile) == (1080, 1080)  # square: shrinks to the height limit
    assert fit_size(100, 3000, profile) == (240, 1920)  # no size keeps 1:30; clamped per dimension
    for height, width in [(2160, 3840), (120, 160), (100, 3000), (5000, 50)]:
        assert profile.contains(*fit_size(height, width, profile))


def test_engine_key_digest_depends_on_every_field() -> None:
    assert KEY.digest() == EngineKey.from_dict(json.loads(json.dumps(KEY.as_dict()))).digest()
    changed = [
        replace(KEY, tensorrt_version="10.8.0"),
        replace(KEY, device_name="RTX 4090"),
        replace(KEY, compute_capability="8.9"),
        replace(KEY, precision="int8"),
        replace(KEY, profile=Profile(max_batch=2)),
        replace(KEY, onnx_sha256="cd" * 32),
    ]
    assert len({KEY.digest(), *(key.digest() for key in changed)}) == 7
    assert KEY.file_name() == f"sapnet-fp16-{KEY.digest()[:16]}.engine"


def test_sidecar_round_trip_and_cache_check(tmp_path: Path) -> None:
    engine_file = tmp_path / KEY.file_name()
    assert check_cached(engine_file, KEY) == "no engine file"
    engine_file.write_bytes(b"plan")
    assert "sidecar not found" in str(check_cached(engine_file, KEY))
    write_sidecar(engine_file, KEY, {"build_seconds": 12.5})
    key, document = read_sidecar(engine_file)
    assert key == KEY and document["build_seconds"] == 12.5 and document["digest"] == KEY.digest()
    assert check_cached(engine_file, KEY) is None
    newer = replace(KEY, tensorrt_version="10.8.0", device_name="RTX 4090")
    reason = str(check_cached(engine_file, newer))
    assert "tensorrt_version: engine 10.3.0, wanted 10.8.0" in reason and "device_name: engine Orin" in reason


def test_broken_sidecar_is_a_one_line_error(tmp_path: Path) -> None:
    engine_file = tmp_path / "x.engine"
    sidecar_path(engine_file).write_text('{"key": {"precision": "fp16"}}')
    with pytest.raises(BackendError, match="unreadable engine sidecar") as caught:
        read_sidecar(engine_file)
    assert "\n" not in str(caught.value)


def test_strong_typing_from_tensorrt_10_12() -> None:
    assert not uses_strong_typing("10.3.0.26") and not uses_strong_typing("10.11.0")
    assert uses_strong_typing("10.12.0.36") and uses_strong_typing("11.0.0")


def test_qdq_detection() -> None:
    plain = onnx.load(str(default_onnx()), load_external_data=False)
    assert not has_qdq(plain)
    plain.graph.node.add(op_type="QuantizeLinear")
    assert has_qdq(plain)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT installed: GPU tests cover it")
def test_building_without_tensorrt_says_so(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="TensorRT is not installed"):
        engine_build.build_engine(default_onnx(), tmp_path)


def test_cli_rejects_bad_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        engine_build.main(["--onnx", str(default_onnx()), "--output", "out", "--min", "1280x720", "--opt", "640x480"])
    assert caught.value.code == 2
    assert "invalid profile: need min <= opt" in capsys.readouterr().err
