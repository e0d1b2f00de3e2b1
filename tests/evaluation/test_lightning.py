"""The test-loop hook: generated and real windows scored per batch, outputs written at the end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from omni.evaluation.extractors import EvalOptions
from omni.evaluation.lightning import MetricsHook, evaluate_checkpoint, to_frames, window_inputs

PLUGIN = """
def mean_level(frames):
    return frames.reshape(len(frames), -1).mean(axis=1)
"""


class FakeModule:
    """What the hook uses of omni's LightningModule: device, model, log."""

    device = torch.device("cpu")
    global_rank = 0
    model = None

    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log(self, name: str, value: float, **kwargs) -> None:
        self.logged[name] = value


class FakePipeline:
    """Stands in for OmniPipeline: records its calls, returns flat level-200 frames."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        from omni.generate.segments import plan_segments

        self.calls.append(kwargs)
        frames = round(kwargs["seconds"] * kwargs["fps"])
        h, w = kwargs["resolution"]
        return SimpleNamespace(
            frames=np.full((frames, h, w, 3), 200, np.uint8),
            segments=plan_segments(frames, 5),
            seed=kwargs["seed"],
            conditions=("text", "ref"),
        )


def test_hook_scores_each_window_against_its_real_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "level_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(tmp_path)
    options = EvalOptions(
        hands=False, landmark_sync=False, scorers=("iqa=level_plugin:mean_level",)
    )
    hook = MetricsHook(options, tmp_path / "out")
    pipe = FakePipeline()
    hook.make_pipeline = lambda module: pipe
    module = FakeModule()
    hook.on_test_start(module)
    gen = torch.Generator().manual_seed(0)
    for step in range(2):
        video = torch.rand(2, 3, 9, 32, 48, generator=gen) * 2 - 1  # (B, 3, F, H, W)
        ids = ["c0a", "c0b"] if step == 0 else ["c1a", "c0a"]  # c0a again: sampler padding
        batch = {
            "video": video,
            "ref": video[:, :, :1],
            "clip_id": ids,
            "caption": ["a person", ""],
            "key": torch.tensor([10 * step, 10 * step + 1]),
            "fps": torch.tensor([25.0, 25.0]),
        }
        hook.test_step(module, batch, step)
        if step == 0:
            first_ref = to_frames(video[0, :, :1])[0]
    hook.on_test_end(module)

    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert [v["name"] for v in metrics["videos"]] == ["c0a", "c0b", "c1a"]  # counted once
    row = metrics["videos"][0]
    assert row["generated"]["frames"] == 9 and row["generated"]["audio"] == "none"
    assert row["generated"]["iqa"] == pytest.approx(200.0)  # the pipeline's frames are scored
    assert abs(row["real"]["iqa"] - 200.0) > 20
    assert metrics["metrics"]["iqa"]["videos"] == 3
    assert module.logged["test/iqa"] == pytest.approx(metrics["metrics"]["iqa"]["value"])
    assert metrics["metrics"]["fid"]["status"] == "unavailable"
    assert (tmp_path / "out" / "report.html").exists()
    # generated as `omni generate` generates: the window's inputs, its default steps and CFG
    call = pipe.calls[0]
    assert call["steps"] == 30 and metrics["sampling"]["steps"] == 30
    assert (call["cfg"].text, call["cfg"].text_end, call["cfg"].audio) == (2.0, 1.0, 3.0)
    assert call["cfg"].schedule == metrics["sampling"]["guidance"]["schedule"] == "cosine"
    assert call["resolution"] == (32, 48) and call["fps"] == 25.0
    assert round(call["seconds"] * call["fps"]) == 9 and call["seed"] == 7
    assert call["text"] == "a person" and call["audio"] is None and call["pose"] is None
    assert np.array_equal(call["ref"], first_ref) and call["ref"].shape == (32, 48, 3)
    assert metrics["generation"]["c0b"] == {
        "frames": 9, "segments": [[0, 5, 5], [5, 5, 4]], "seed": 8, "conditions": ["text", "ref"]
    }  # fmt: skip


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


def test_checkpoint_mode_generates_what_omni_generate_makes_for_the_same_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`omni test --ckpt --frames 13` on a model with 5-frame segments generates each window
    through OmniPipeline's segment chain: 13 frames in 3 segments, as `omni generate` makes from
    the window's reference, audio, caption and seed — and the same frames as the pipeline."""
    import sys

    import pandas as pd
    import soundfile
    from click.testing import CliRunner
    from PIL import Image

    from omni.cli import main
    from omni.generate.pipeline import Guidance, OmniPipeline
    from omni.manifest import write_manifest
    from omni.training.lightning_cli import build_cli

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datamodules"))
    from datamodules.grey_clips import make_clip, rows

    (tmp_path / "level_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(tmp_path)
    make_clip(tmp_path / "v0.mp4")
    manifest = write_manifest(pd.DataFrame(rows(["c0"], source="v0.mp4")), tmp_path / "m.parquet")
    tiny = [*TINY, "--data.batch_size", "1", "--data.val_fraction", "0"]
    build_cli(
        "fit", "audio", "tiny",
        [*tiny, "--data.manifests", f"[{manifest}]", "--trainer.default_root_dir", str(tmp_path)],
    )  # fmt: skip
    ckpt = next(tmp_path.glob("version_*/checkpoints/last.ckpt"))

    args = ["test", "--ckpt", ckpt, "--data", manifest, "--out", tmp_path / "eval", "--frames", 13]
    args += ["--no-hands", "--no-landmark-sync", "--steps", "2", *tiny]
    args += ["--scorer", "iqa=level_plugin:mean_level", "--trainer.default_root_dir", tmp_path]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    tested = metrics["generation"]["c0"]
    assert tested["frames"] == 13 and metrics["videos"][0]["generated"]["frames"] == 13
    assert metrics["videos"][0]["real"]["frames"] == 13  # the real window is as long
    assert tested["segments"] == [[0, 5, 5], [5, 5, 5], [10, 5, 3]]  # chained by motion frames
    assert tested["conditions"] == ["text", "ref", "audio"]

    # the same window's inputs, as the test loop read them
    data = build_cli(
        None, "audio", "tiny",
        [*tiny, "--data.test_manifests", f"[{manifest}]", "--data.test_frames", "13"], run=False,
    ).datamodule  # fmt: skip
    data.setup("test")
    batch = next(iter(data.test_dataloader()))
    inputs = window_inputs(batch, 0, 25.0)
    Image.fromarray(inputs["ref"]).save(tmp_path / "ref.png")
    soundfile.write(tmp_path / "a.wav", inputs["audio"], 16000, subtype="FLOAT")
    h, w = inputs["resolution"]
    out = tmp_path / "gen" / "c0.mp4"
    gen = ["generate", "--ckpt", ckpt, "--ref", tmp_path / "ref.png", "--audio", tmp_path / "a.wav"]
    gen += ["--text", inputs["text"], "--seed", tested["seed"], "--steps", "2", "--fps", "25"]
    gen += ["--resolution", f"{w}x{h}", "--no-face-check", "--out", out]
    result = CliRunner().invoke(main, [str(a) for a in gen])
    assert result.exit_code == 0, result.output
    made = json.loads(out.with_name("c0.drift.json").read_text())
    assert made["num_frames"] == tested["frames"]
    kept = [[s["start_frame"], s["frames"]] for s in made["segments"]]
    assert kept == [[start, keep] for start, _, keep in tested["segments"]]
    assert made["settings"]["segment_frames"] == 5 and made["settings"]["steps"] == 2

    # and the frames themselves are the pipeline's (mean level of every generated frame)
    pipe = OmniPipeline.from_checkpoint(ckpt, device="cpu")
    frames = pipe(**inputs, cfg=Guidance(), steps=2, seed=tested["seed"], check_face=False).frames
    level = frames.reshape(len(frames), -1).mean(axis=1).mean()
    assert metrics["videos"][0]["generated"]["iqa"] == pytest.approx(level, abs=1e-3)
    for segment, (start, _, keep) in zip(made["segments"], tested["segments"], strict=True):
        rgb = frames[start : start + keep].reshape(-1, 3).mean(axis=0)
        assert segment["mean_rgb"] == pytest.approx(rgb.tolist(), abs=2e-3)  # omni generate's
