"""`omni test` through the real entry point: outputs, usage errors, bad weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from omni import media
from omni.cli import main


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    frames = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    for side in ("gen", "real"):
        media.write_video(tmp_path / side / "clip.mp4", frames, 25)
    return tmp_path / "gen", tmp_path / "real"


def test_scores_folders_and_writes_both_outputs(tmp_path: Path) -> None:
    gen, real = _folders(tmp_path)
    out = tmp_path / "out"
    args = ["test", "--generated", gen, "--real", real, "--out", out, "--no-hands"]
    result = CliRunner().invoke(main, [str(a) for a in [*args, "--no-landmark-sync"]])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["videos"][0]["generated"]["frames"] == 8
    assert metrics["metrics"]["fid"]["enable_with"].startswith("--inception")
    assert metrics["weights"] == {}  # no weights given, no bundled model run
    assert "unavailable" in result.output and "report.html" in result.output
    assert (out / "report.html").read_text().startswith("<!doctype html>")


def test_usage_errors_exit_non_zero(tmp_path: Path) -> None:
    gen, _ = _folders(tmp_path)
    runner = CliRunner()
    neither = runner.invoke(main, ["test"])
    assert neither.exit_code == 2 and "either --generated" in neither.output
    both = runner.invoke(main, ["test", "--generated", str(gen), "--ckpt", "x.ckpt"])
    assert both.exit_code == 2
    missing = runner.invoke(
        main, ["test", "--generated", str(gen), "--i3d", str(tmp_path / "absent.pt")]
    )
    assert missing.exit_code == 2 and "--i3d" in missing.output and "no such file" in missing.output
    stray = runner.invoke(main, ["test", "--generated", str(gen), "--trainer.devices", "2"])
    assert stray.exit_code == 2 and "only --ckpt" in stray.output
    bad_fps = runner.invoke(main, ["test", "--generated", str(gen), "--fps", "0"])
    assert bad_fps.exit_code == 2 and "fps > 0" in bad_fps.output
