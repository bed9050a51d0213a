"""Bad input to every tool: one line, a non-zero exit code, nothing half-written, no traceback (issue 15)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import cv2
import onnx
import pytest
import torch
from conftest import tiny_rgb
from onnx import TensorProto, helper
from safetensors.torch import save_file

from sapnet_ros import resources
from sapnet_ros.bench import BenchConfig
from sapnet_ros.bench.cli import QUICK_SIZE, quick_config
from sapnet_ros.bench.cli import main as bench_main
from sapnet_ros.cli.derain import main as derain_main
from sapnet_ros.commands import command
from sapnet_ros.errors import WeightsError
from sapnet_ros.evaluation.cli import main as eval_bag_main
from sapnet_ros.evaluation.paired import main as evaluate_main
from sapnet_ros.model.network import SAPNet
from sapnet_ros.model.weights import save_weights
from sapnet_ros.ros.replay import main as replay_main
from sapnet_ros.training.checkpoint import save_checkpoint
from sapnet_ros.training.train import main as train_main


def _fails(
    main: Callable[[list[str]], int], args: list[str], prog: str, capsys: pytest.CaptureFixture[str], code: int = 2
) -> str:
    """Run a tool that must fail; return its one error line."""
    try:
        returned = main(args)
    except SystemExit as exit_:  # parser.exit / parser.error
        returned = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert returned == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"{prog}: error") or line.startswith("ERROR")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    assert cv2.imwrite(str(path), tiny_rgb(20, 24))
    return path


def _grey_model(path: Path) -> Path:
    """A valid ONNX graph with the wrong input: (1, 1, 8, 8)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 8])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "grey", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("kind", ["truncated", "random", "empty", "wrong_input"])
def test_a_bad_onnx_with_the_default_precision_is_one_line(
    kind: str, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / f"{kind}.onnx"
    if kind == "truncated":
        model.write_bytes(resources.default_onnx().read_bytes()[:5000])
    elif kind == "random":
        model.write_bytes(os.urandom(3000))
    elif kind == "empty":
        model.write_bytes(b"")
    else:
        _grey_model(model)
    out = tmp_path / "out"
    line = _fails(derain_main, [str(photo), "-o", str(out), "--onnx", str(model)], "sapnet-derain", capsys)
    assert str(model) in line
    expected = "expected one (N, 3, H, W) input" if kind == "wrong_input" else "not a readable ONNX model"
    assert expected in line
    assert not out.exists()  # checked before the output folder is left behind


@pytest.mark.parametrize("stages", ["abc", "0", "100000", "-1"])
def test_bad_stages_metadata_in_weights_is_one_line(
    stages: str, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "bad.safetensors"
    save_file(SAPNet(stages=1).state_dict(), str(weights), metadata={"stages": stages})
    args = [str(photo), "-o", str(tmp_path / "out"), "--backend", "torch", "--weights", str(weights)]
    line = _fails(derain_main, args, "sapnet-derain", capsys)
    assert f"metadata stages={stages!r} is not a whole number in [1, 64]" in line
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_created_fails_before_any_inference(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    line = _fails(derain_main, [str(photo), "-o", str(blocker / "out"), "--backend", "torch"], "sapnet-derain", capsys)
    assert line == f"sapnet-derain: error: {blocker / 'out'}: cannot write the output folder (Not a directory)"
    assert not any("backend" in record.getMessage() for record in caplog.records)  # no model was even opened


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_fails_before_any_inference(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    line = _fails(derain_main, [str(photo), "-o", str(locked), "--backend", "torch"], "sapnet-derain", capsys)
    assert "Permission denied" in line


def test_a_symlink_loop_named_explicitly_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    line = _fails(derain_main, [str(loop), "-o", str(tmp_path / "out")], "sapnet-derain", capsys)
    assert line == f"sapnet-derain: error: {loop}: Too many levels of symbolic links"


def test_negative_max_side_is_refused_by_the_parser(photo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        derain_main([str(photo), "-o", "out", "--max-side", "-5"])
    assert caught.value.code == 2
    assert "--max-side: '-5' is outside [0," in capsys.readouterr().err


def test_a_run_that_writes_nothing_leaves_no_empty_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    out = tmp_path / "new" / "out"
    assert derain_main([str(broken), "-o", str(out), "--backend", "torch"]) == 1
    assert "skipped" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_eval_bag_with_an_unwritable_output_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = [str(resources.demo_bag()), "--image-topic", "/camera/image_raw", "-o", str(blocker / "eval")]
    line = _fails(eval_bag_main, [*args, "--backend", "torch", "--detector", "none"], "sapnet-eval-bag", capsys)
    assert "cannot write the output folder (Not a directory)" in line


def test_train_with_an_unwritable_run_folder_is_one_line(
    tmp_path: Path, train_pairs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = [f"data.train={train_pairs}", f"log.run_dir={blocker / 'run'}", "model.stages=1", "data.workers=0"]
    line = _fails(train_main, args, "sapnet-train", capsys)
    assert "cannot write the output folder (Not a directory)" in line


def test_resume_from_best_pt_explains_what_it_lacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    best = save_checkpoint(tmp_path / "best.pt", {"model": SAPNet(stages=1).state_dict(), "best": {}, "config": {}})
    assert train_main(["--resume", str(best)]) == 1
    (message,) = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert message.startswith(f"{best}: cannot resume from it: it lacks optimizer, scheduler, scaler, epoch")
    assert "resume from last.pt beside it" in message
    assert "Traceback" not in capsys.readouterr().err


def test_replay_of_a_folder_that_is_no_bag_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    line = _fails(replay_main, [".", "--wait", "1"], "sapnet-replay", capsys)
    assert line.startswith("sapnet-replay: error: .: cannot open bag")
    assert list(tmp_path.iterdir()) == []


def test_evaluate_checks_its_csv_before_deraining(
    tmp_path: Path, val_pairs: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    csv = tmp_path / "missing" / "results.csv"
    line = _fails(evaluate_main, ["--data", str(val_pairs), "--csv", str(csv), "--backend", "torch"],
                  "sapnet-evaluate", capsys)  # fmt: skip
    assert line == f"sapnet-evaluate: error: {csv}: cannot write it (No such file or directory)"
    assert not any("backend" in record.getMessage() for record in caplog.records)


def test_bench_checks_its_json_before_measuring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "bench.json"
    line = _fails(bench_main, ["--quick", "--json", str(target)], "sapnet-bench", capsys)
    assert line == f"sapnet-bench: error: {target}: cannot write it (No such file or directory)"


def test_bench_quick_is_one_size_one_repeat_and_the_main_variants() -> None:
    quick = quick_config(BenchConfig())
    assert quick.sizes == (QUICK_SIZE,) and quick.repeats == 1 and quick.quality_size == QUICK_SIZE
    assert quick.variants == ("onnxruntime:int8", "onnxruntime:fp32", "tensorrt:fp16")


def test_command_turns_sigterm_into_one_line_and_exit_130(capsys: pytest.CaptureFixture[str]) -> None:
    @command("sapnet-demo")
    def killed(argv: list[str]) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    assert killed([]) == 130
    assert capsys.readouterr().err == "sapnet-demo: interrupted by SIGTERM\n"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored afterwards


def test_command_turns_stray_errors_into_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    @command("sapnet-demo")
    def failing(argv: list[str]) -> int:
        raise WeightsError("w.safetensors: weights file not found")

    @command("sapnet-demo")
    def full_disk(argv: list[str]) -> int:
        raise OSError(28, "No space left on device")

    assert failing([]) == 2 and full_disk([]) == 2
    assert capsys.readouterr().err == (
        "sapnet-demo: error: w.safetensors: weights file not found\n"
        "sapnet-demo: error: [Errno 28] No space left on device\n"
    )


def test_weights_are_written_with_the_mode_open_gives(tmp_path: Path) -> None:
    """safetensors itself creates files 0600; the atomic write gives them what open() would (0644 under umask 022)."""
    umask = os.umask(0o022)
    os.umask(umask)
    written = save_weights({"w": torch.zeros(2)}, tmp_path / "w.safetensors", {})
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o666 & ~umask
