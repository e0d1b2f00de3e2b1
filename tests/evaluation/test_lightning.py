"""The test-loop hook: generated and real windows scored per batch, outputs written at the end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from omni.evaluation.extractors import EvalOptions
from omni.evaluation.lightning import MetricsHook, evaluate_checkpoint, to_frames

PLUGIN = """
def mean_level(frames):
    return frames.reshape(len(frames), -1).mean(axis=1)
"""


class FakeModule:
    """What the hook uses of omni's LightningModule: device, sample(batch), log."""

    device = torch.device("cpu")
    global_rank = 0

    def __init__(self) -> None:
        self.logged: dict[str, float] = {}
        self.sample_kwargs: list[dict] = []

    def sample(self, batch: dict, **kwargs) -> torch.Tensor:
        self.sample_kwargs.append(kwargs)
        return batch["video"] * 0.5  # "generated": the real window, contrast halved

    def log(self, name: str, value: float, **kwargs) -> None:
        self.logged[name] = value


def test_hook_scores_each_window_against_its_real_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "level_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(tmp_path)
    options = EvalOptions(
        hands=False, landmark_sync=False, scorers=("iqa=level_plugin:mean_level",)
    )
    hook = MetricsHook(options, tmp_path / "out")
    module = FakeModule()
    hook.on_test_start(module)
    gen = torch.Generator().manual_seed(0)
    for step in range(2):
        video = torch.rand(2, 3, 9, 32, 48, generator=gen) * 2 - 1  # (B, 3, F, H, W)
        ids = ["c0a", "c0b"] if step == 0 else ["c1a", "c0a"]  # c0a again: sampler padding
        batch = {"video": video, "clip_id": ids}
        hook.test_step(module, batch, step)
    hook.on_test_end(module)

    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert [v["name"] for v in metrics["videos"]] == ["c0a", "c0b", "c1a"]  # counted once
    row = metrics["videos"][0]
    assert row["generated"]["frames"] == 9 and row["generated"]["audio"] == "none"
    # the halved contrast pulls every pixel towards 127.5
    assert abs(row["generated"]["iqa"] - 127.5) < abs(row["real"]["iqa"] - 127.5)
    assert metrics["metrics"]["iqa"]["videos"] == 3
    assert module.logged["test/iqa"] == pytest.approx(metrics["metrics"]["iqa"]["value"])
    assert metrics["metrics"]["fid"]["status"] == "unavailable"
    assert (tmp_path / "out" / "report.html").exists()
    # sampled as `omni generate` samples: its default steps, CFG on text then audio
    kwargs = module.sample_kwargs[0]
    assert kwargs["steps"] == 30 and metrics["sampling"]["steps"] == 30
    assert [(g.name, g.scale.start, g.scale.end) for g in kwargs["guidance"]] == [
        ("text", 2.0, 1.0),
        ("audio", 3.0, 1.0),
    ]
    assert metrics["sampling"]["guidance"]["schedule"] == "cosine"


def test_sampling_options_override_start_scales_and_need_ckpt(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from omni.cli import main
    from omni.evaluation.lightning import sampling_defaults

    sampling = sampling_defaults(steps=8, cfg_text=1.5, cfg_audio=None)
    assert sampling["steps"] == 8
    assert sampling["guidance"] | {"text": 2.0} == sampling_defaults()["guidance"]
    assert sampling["guidance"]["text"] == 1.5
    hook = MetricsHook(EvalOptions(hands=False, landmark_sync=False), tmp_path, sampling)
    assert [g.scale.start for g in hook.guidance] == [1.5, 3.0]
    (tmp_path / "gen").mkdir()
    result = CliRunner().invoke(
        main, ["test", "--generated", str(tmp_path / "gen"), "--steps", "4"]
    )
    assert result.exit_code == 2 and "--steps: sampling options apply to --ckpt only" in (
        result.output
    )


def test_frames_conversion_and_missing_manifest() -> None:
    video = torch.tensor([-1.0, 0.0, 1.0]).reshape(1, 3, 1, 1).expand(3, 3, 1, 1)
    frames = to_frames(video)
    assert frames.shape == (3, 1, 1, 3) and frames.dtype == np.uint8
    assert frames[:, 0, 0, 0].tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="--data"):
        evaluate_checkpoint(Path("x.ckpt"), None, Path("out"), EvalOptions())


TINY = [
    "--data.aspect_ratios", "[1.5]",
    "--data.resolution", "16",
    "--data.num_frames", "5",
    "--data.batch_size", "3",
    "--trainer.max_steps", "1",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
    "--model.network.text_layers", "1",
]  # fmt: skip


@pytest.mark.slow
def test_checkpoint_mode_through_omni_test(tmp_path: Path) -> None:
    lightning_cli = pytest.importorskip("omni.training.lightning_cli")
    import sys

    import pandas as pd
    from click.testing import CliRunner

    from omni.cli import main
    from omni.manifest import write_manifest

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datamodules"))
    from datamodules.grey_clips import make_clip, rows

    for i in range(2):
        make_clip(tmp_path / f"v{i}.mp4")
    table = rows([f"c{i}" for i in range(4)])
    for i, row in enumerate(table):
        row["source"] = f"v{i % 2}.mp4"
    manifest = write_manifest(pd.DataFrame(table), tmp_path / "test.parquet")
    fit = [*TINY, "--data.manifests", f"[{manifest}]", "--data.batch_size", "1"]
    lightning_cli.build_cli(
        "fit", "audio", "tiny", [*fit, "--trainer.default_root_dir", str(tmp_path / "fit")]
    )
    ckpt = next((tmp_path / "fit").glob("version_*/checkpoints/last.ckpt"))

    args = ["test", "--ckpt", str(ckpt), "--data", str(manifest), "--out", str(tmp_path / "eval")]
    args += ["--no-hands", "--no-landmark-sync", "--steps", "4", "--cfg-audio", "2.5", *TINY]
    args += ["--trainer.default_root_dir", str(tmp_path / "test")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert sorted(v["name"] for v in metrics["videos"]) == ["c0", "c1", "c2", "c3"]
    assert metrics["videos"][0]["generated"]["frames"] == 5
    assert metrics["sampling"]["steps"] == 4 and metrics["sampling"]["guidance"]["audio"] == 2.5
