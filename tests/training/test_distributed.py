"""2-process DDP on CPU (gloo) matches 1 process on the same global batch."""

import os
import subprocess
import sys

import pytest
import torch

from training.run_helpers import fit_args


def _fit(manifest, root, *extra):
    args = fit_args(manifest, root, 3, "--trainer.accelerator", "cpu", *extra)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "omni.cli", "fit", "--stage", "audio", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(next(root.glob("version_*/checkpoints/last.ckpt")), weights_only=True)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ddp_two_processes_match_one_process(train_manifest, tmp_path):
    one = _fit(train_manifest, tmp_path / "one", "--trainer.devices", "1", "--data.batch_size", "2")
    two = _fit(
        train_manifest, tmp_path / "two",
        "--trainer.devices", "2", "--trainer.strategy", "ddp", "--data.batch_size", "1",
    )  # fmt: skip
    assert one["global_step"] == two["global_step"] == 3
    moved = 0
    for name, value in one["state_dict"].items():
        other = two["state_dict"][name]
        assert torch.allclose(value, other, atol=2e-5, rtol=1e-4), name
        moved += int(not torch.equal(value, torch.zeros_like(value)))
    assert moved > 0
    for name, value in one["ema"]["shadow"].items():
        assert torch.allclose(value, two["ema"]["shadow"][name], atol=2e-5, rtol=1e-4), name
    # each rank saw its half of every global batch
    rank0 = (next((tmp_path / "two").glob("version_*")) / "condition_mix_rank0.csv").read_text()
    rank1 = (next((tmp_path / "two").glob("version_*")) / "condition_mix_rank1.csv").read_text()
    single = (next((tmp_path / "one").glob("version_*")) / "condition_mix_rank0.csv").read_text()
    for line0, line1, line in zip(
        rank0.splitlines(), rank1.splitlines(), single.splitlines(), strict=True
    ):
        ids = line.split(",")[2].split()
        assert [line0.split(",")[2], line1.split(",")[2]] == ids
