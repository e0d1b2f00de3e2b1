"""`omni fit --stage audio` with no other option trains on the built-in demo data (tiny preset)."""

import os
import subprocess
import sys

import pandas as pd
import pytest


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_fit_audio_with_no_options(tmp_path):
    env = {**os.environ, "OMNI_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "omni.cli", "fit", "--stage", "audio"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stderr[-3000:]
    run = next((tmp_path / "runs" / "audio").glob("version_*"))
    metrics = pd.read_csv(run / "csv" / "metrics.csv")
    losses = metrics["train/loss"].dropna()
    assert len(losses) >= 10
    assert losses.tail(10).mean() < losses.head(10).mean()  # it learns
    assert metrics["val/loss"].notna().sum() >= 2
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert list((run / "samples").glob("step_*.mp4"))
    mixes = (run / "condition_mix_rank0.csv").read_text()
    assert "audio" in mixes  # the audio condition is drawn on the demo's talking clips
