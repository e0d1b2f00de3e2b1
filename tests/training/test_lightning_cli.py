import csv
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from lightning.pytorch.callbacks import Callback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from omni.cli import main
from omni.manifest import read_manifest, write_manifest
from omni.media import probe
from omni.provenance import file_sha256, verify
from omni.training.callbacks import SampleVideos
from omni.training.lightning_cli import build_cli, run_test
from training.run_helpers import fit_args


def _metrics(root: Path) -> pd.DataFrame:
    return pd.read_csv(next(root.glob("version_*/csv/metrics.csv")))


def _batches(root: Path) -> list[list[str]]:
    path = next(root.glob("version_*/condition_mix_rank0.csv"))
    with path.open() as f:
        return [row for row in csv.reader(f)]


def test_fit_audio_stage_logs_and_checkpoints(train_manifest, tmp_path):
    args = fit_args(train_manifest, tmp_path, 3, "--trainer.val_check_interval", "3")
    cli = build_cli("fit", "audio", "tiny", args, run=False)
    samples = next(cb for cb in cli.trainer.callbacks if isinstance(cb, SampleVideos))
    samples.every_n_steps, samples.steps = 2, 2
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    metrics = _metrics(tmp_path)
    assert metrics["sample/mse"].notna().sum() == 1
    video = next(tmp_path.glob("version_*/samples/step_0000002.mp4"))
    assert probe(video).num_frames == 5
    report = verify(video)  # sample videos carry the watermark and a provenance record
    assert report.marked and "training sample at step 2" in report.record.conditions["source"]
    events = EventAccumulator(str(next(tmp_path.glob("version_*"))))
    events.Reload()
    assert events.Tags()["images"] == ["samples"]  # the frame grid in TensorBoard
    assert [e.step for e in events.Images("samples")] == [2]
    assert {"train/loss", "val/loss", "val/loss_t0.5"} <= set(metrics.columns)
    assert any(c.startswith("mix/") for c in metrics.columns)
    assert any(c.startswith("train/loss_mix/") for c in metrics.columns)
    assert "cfg_drop/text" in metrics.columns  # the stage's guidance drop is logged
    assert set(metrics["cfg_drop/text"].dropna()) <= {0.0, 1.0}  # batch size 1
    batches = _batches(tmp_path)
    assert [int(b[0]) for b in batches] == [0, 1, 2]  # every batch's mix recorded
    assert all(len(b) == 5 and b[4] in ("", "text=1") for b in batches)
    ckpt = torch.load(next(tmp_path.glob("version_*/checkpoints/last.ckpt")), weights_only=True)
    assert ckpt["global_step"] == 3 and ckpt["ema"]["updates"] == 3
    # written at the end of fit: the next run starts a new epoch, as Lightning's loops do
    assert ckpt["OmniDataModule"] == {"epoch": 1, "batches_done": 0}


@pytest.mark.slow
def test_undecodable_clips_are_skipped_counted_and_training_goes_on(broken_manifest, tmp_path):
    args = fit_args(broken_manifest, tmp_path, 4, "--data.batch_size", "2")
    build_cli("fit", "audio", "tiny", [*args, "--data.val_fraction", "0"])
    metrics = _metrics(tmp_path)
    skipped = metrics["data/skipped"].dropna()
    assert len(skipped) == 4 and skipped.sum() >= 1  # counted per step
    ckpt = torch.load(next(tmp_path.glob("version_*/checkpoints/last.ckpt")), weights_only=True)
    assert ckpt["global_step"] == 4  # and training went on
    seen = {c for b in _batches(tmp_path) for c in b[2].split()}
    assert seen and not seen & {f"c{i:02d}" for i in range(0, 12, 2)}  # broken never trained


class Killer(Callback):
    """Dies at the start of batch `at`, after the checkpoint of the step before (like a kill)."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.at:
            raise RuntimeError("killed")


@pytest.mark.slow
def test_resume_continues_at_the_same_step_and_data_position(train_manifest, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    every = ["--checkpoint.every_n_train_steps", "1", "--trainer.val_check_interval", "100"]
    build_cli("fit", "audio", "tiny", fit_args(train_manifest, full, 6, *every))
    cli = build_cli("fit", "audio", "tiny", fit_args(train_manifest, part, 6, *every), run=False)
    cli.trainer.callbacks.append(Killer(at=3))
    with pytest.raises(RuntimeError, match="killed"):
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    last = next(part.glob("version_0/checkpoints/last.ckpt"))
    assert torch.load(last, weights_only=True)["OmniDataModule"] == {"epoch": 0, "batches_done": 3}
    build_cli(
        "fit",
        "audio",
        "tiny",
        [*fit_args(train_manifest, part, 6, *every), "--ckpt_path", str(last)],
    )
    runs = sorted(part.glob("version_*"))
    assert len(runs) == 2
    resumed = _batches(part) + [r for r in csv.reader((runs[1] / "condition_mix_rank0.csv").open())]
    assert [b[:3] for b in resumed] == [b[:3] for b in _batches(full)]  # same steps, same clips
    a = torch.load(next(full.glob("version_0/checkpoints/last.ckpt")), weights_only=True)
    b = torch.load(runs[1] / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 6
    for k, v in a["state_dict"].items():
        assert torch.allclose(v, b["state_dict"][k], atol=1e-6), k


def test_misspelt_key_is_an_error(train_manifest, tmp_path):
    result = CliRunner().invoke(main, ["fit", "--stage", "audio", "--trainer.max_stepz", "3"])
    assert result.exit_code != 0
    assert "max_stepz" in result.output + str(result.exception)


def test_help_lists_the_stage_options():
    result = CliRunner().invoke(main, ["fit", "--stage", "audio", "--help"])
    assert result.exit_code == 0, result.output
    assert "--data.ratios" in result.output and "--model.trainable" in result.output
    result = CliRunner().invoke(main, ["fit", "--stage", "nope"])
    assert result.exit_code == 2 and "nope" in result.output


class Recorder:
    def __init__(self):
        self.calls = []

    def on_test_start(self, module):
        self.calls.append("start")

    def test_step(self, module, batch, batch_idx):
        video = module.sample(batch, steps=1)
        assert video.shape == batch["video"].shape
        n = batch["video"].shape[2]  # the driving audio for the sync metrics, 16 kHz
        assert batch["wave"].shape == (len(batch["clip_id"]), round(n / 25 * 16000))
        assert batch["fps"].tolist() == [25.0] * len(batch["clip_id"])
        self.calls.append(list(batch["clip_id"]))

    def on_test_end(self, module):
        self.calls.append("end")


@pytest.mark.slow
def test_run_test_feeds_the_hook(train_manifest, tmp_path):
    build_cli("fit", "audio", "tiny", fit_args(train_manifest, tmp_path, 1))
    ckpt = next(tmp_path.glob("version_*/checkpoints/last.ckpt"))
    hook = Recorder()
    args = fit_args(train_manifest, tmp_path / "test", 1, "--data.batch_size", "4")
    run_test(str(ckpt), [str(train_manifest)], "audio", "tiny", args, hook=hook)
    assert hook.calls[0] == "start" and hook.calls[-1] == "end"
    seen = sorted(c for batch in hook.calls[1:-1] for c in batch)
    assert seen == sorted(f"c{i:02d}" for i in range(12))
    # omni predict: one mp4 per clip, with the clip's audio over the window
    out = tmp_path / "predict"
    predict = [
        *fit_args(train_manifest, out, 1), "--data.test_manifests", f"[{train_manifest}]",
        "--ckpt_path", str(ckpt), "--model.sample_steps", "1",
    ]  # fmt: skip
    build_cli("predict", "audio", "tiny", predict)
    videos = sorted(out.glob("version_*/predictions/*.mp4"))
    assert [v.stem for v in videos] == sorted(f"c{i:02d}" for i in range(12))
    info = probe(videos[0])
    assert info.has_audio and info.num_frames == 5
    # the provenance record; the 1-step model's noisy pictures do not keep the watermark through
    # H.264 (tests/training/test_callbacks.py checks the mark on smooth pictures)
    report = verify(videos[0])
    assert report.record is not None and report.record.checkpoint_sha256 == file_sha256(ckpt)
    assert report.record.conditions["clip"] == "c00"


@pytest.mark.parametrize("preset", ["tiny", "S", "B", "L", "paper"])
def test_every_preset_config_is_valid(preset, capsys):
    for stage in ("audio", "vae"):
        with pytest.raises(SystemExit) as exit_info:
            build_cli("fit", stage, preset, ["--print_config"])
        assert exit_info.value.code in (0, None)
        printed = capsys.readouterr().out
        assert f"preset: {preset}" in printed


@pytest.mark.slow
def test_vae_stage_trains_and_feeds_the_diffusion_stage(train_manifest, tmp_path):
    args = fit_args(train_manifest, tmp_path / "vae", 2)[:-6]  # without the OmniModule options
    build_cli("fit", "vae", "tiny", args)
    vae_ckpt = next((tmp_path / "vae").glob("version_*/checkpoints/last.ckpt"))
    ckpt = torch.load(vae_ckpt, weights_only=True)
    assert ckpt["vae_config"]["scaling_factor"] != 1.0 and "ema" in ckpt
    network = ["--model.network.vae", "causal", "--model.network.vae_path", str(vae_ckpt)]
    build_cli("fit", "t2v", "tiny", fit_args(train_manifest, tmp_path / "t2v", 1, *network))
    t2v = torch.load(
        next((tmp_path / "t2v").glob("version_*/checkpoints/last.ckpt")), weights_only=True
    )
    assert t2v["omni_model_config"]["vae"]["kind"] == "causal"
    vae_weights = {k: v for k, v in t2v["state_dict"].items() if k.startswith("model.vae.")}
    assert vae_weights and all(
        torch.equal(v, ckpt["ema"]["shadow"][k.removeprefix("model.vae.")])
        for k, v in vae_weights.items()
    )  # the VAE stage's EMA weights, frozen through the diffusion stage


def test_unreadable_validation_set_is_skipped_with_a_warning_and_training_goes_on(
    train_manifest, broken_manifest, tmp_path, caplog
):
    """Validation clips that are all broken files (status ok): each is skipped with its reason
    and counted, validation is skipped with a warning, and training runs to the end."""
    rows = read_manifest(broken_manifest).df
    bad_only = rows[rows["source"] == "bad.mp4"]
    val = write_manifest(bad_only, Path(broken_manifest).parent / "val_bad.parquet")
    args = fit_args(train_manifest, tmp_path, 3, "--trainer.val_check_interval", "2")
    args += ["--data.val_manifests", f"[{val}]"]
    build_cli("fit", "audio", "tiny", args)
    ckpt = torch.load(next(tmp_path.glob("version_*/checkpoints/last.ckpt")), weights_only=True)
    assert ckpt["global_step"] == 3  # training went on past the validation at step 2
    metrics = _metrics(tmp_path)
    assert "val/loss" not in metrics.columns or metrics["val/loss"].isna().all()
    assert metrics["val/skipped"].dropna().sum() >= len(bad_only)  # each broken clip counted
    assert "validation skipped: none of the" in caplog.text
    assert "skipping clip c00" in caplog.text  # with its reason


def test_training_set_that_never_decodes_stops_with_a_reason(broken_manifest, tmp_path):
    """Every training clip broken: batches are skipped, then the epoch's end stops the run with
    what failed (instead of skipping batches forever under max_steps)."""
    rows = read_manifest(broken_manifest).df
    bad = write_manifest(rows[rows["source"] == "bad.mp4"], tmp_path / "bad.parquet")
    args = fit_args(bad, tmp_path, 3, "--data.val_fraction", "0")
    with pytest.raises(
        RuntimeError, match=r"no training clip could be decoded in epoch 0.*bad\.mp4"
    ):
        build_cli("fit", "audio", "tiny", args)
    assert not list(tmp_path.glob("version_*/checkpoints/*.ckpt"))  # no step was taken
