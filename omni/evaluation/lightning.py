"""`omni test --ckpt CKPT --data test.parquet`: the metrics inside Lightning's test loop.

`MetricsHook` implements omni.training.hooks.TestHook. Every test batch is generated with
`module.sample(batch)` (EMA weights) as `omni generate` samples — its default steps and
classifier-free guidance on text then audio (`sampling_defaults`, recorded in metrics.json) —
and each generated window is scored beside its real window,
with the same per-video pass as the folder mode; FID/FVD features go into `FrechetDistance`
accumulators whose sums torchmetrics reduces across processes, per-video rows are gathered to
rank 0, which writes the same metrics.json and report.html. So the test set spreads over GPUs.
Windows repeated by the sampler's padding are scored but counted once. Features wait in memory
until the end of the loop (2048 + 400/16 floats per frame) so repeats can be left out.

Batches come from omni's datamodule: "video" (B, 3, F, H, W) in [-1, 1] and "clip_id"; the sync
metrics also need the window's waveform, "wave" (B, N) at 16 kHz, and its frame rate "fps"
(else `EvalOptions.fps`). Without "wave" they are recorded as not computable, per video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from omni.evaluation.extractors import EvalOptions, load_extractors
from omni.evaluation.frechet import FrechetDistance
from omni.evaluation.results import summarise, write_outputs
from omni.evaluation.scoring import VideoResult, score_video
from omni.evaluation.video import array_video


def to_frames(video: torch.Tensor) -> np.ndarray:
    """(3, F, H, W) in [-1, 1] → uint8 frames (F, H, W, 3)."""
    x = ((video.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return rearrange(x, "c f h w -> f h w c").numpy()


def sampling_defaults(steps: int | None = None, cfg_text=None, cfg_audio=None) -> dict:
    """`omni generate`'s sampling (steps, omni.generate.pipeline.Guidance), start scales
    overridable: {"steps": int, "guidance": {text, audio, text_end, audio_end, schedule}}."""
    import inspect
    from dataclasses import asdict

    from omni.generate.pipeline import Guidance, OmniPipeline

    default_steps = inspect.signature(OmniPipeline.__call__).parameters["steps"].default
    guidance = asdict(Guidance())
    if cfg_text is not None:
        guidance["text"] = float(cfg_text)
    if cfg_audio is not None:
        guidance["audio"] = float(cfg_audio)
    return {"steps": default_steps if steps is None else int(steps), "guidance": guidance}


class MetricsHook:
    """Feeds omni's evaluation metrics from Lightning's test loop (see module docstring)."""

    def __init__(self, options: EvalOptions, out: str | Path, sampling: dict | None = None) -> None:
        from omni.generate.pipeline import Guidance

        self.options = options
        self.out = Path(out)
        self.sampling = sampling or sampling_defaults()
        if self.sampling["steps"] < 1:
            raise ValueError(f"--steps: expected >= 1, got {self.sampling['steps']}")
        # the audio term is a no-op for rows (or models) without audio
        self.guidance = tuple(Guidance(**self.sampling["guidance"]).terms(audio_on=True))
        self.ex = load_extractors(options)
        self.fid = FrechetDistance(2048) if self.ex.inception is not None else None
        self.fvd = FrechetDistance(400) if self.ex.i3d is not None else None
        self.videos: list[tuple[str, dict[str, VideoResult]]] = []
        self.metrics: dict | None = None

    def on_test_start(self, module) -> None:
        self.options.device = str(module.device)
        for net in (self.ex.inception, self.ex.i3d, self.ex.syncnet):
            if net is not None:
                net.to(module.device)

    def test_step(self, module, batch: dict, batch_idx: int) -> None:
        generated = module.sample(  # (B, 3, F, H, W) in [-1, 1]
            batch, steps=self.sampling["steps"], guidance=self.guidance
        )
        fps, wave = batch.get("fps"), batch.get("wave")
        for i, clip_id in enumerate(batch["clip_id"]):
            rate = float(fps[i]) if fps is not None else self.options.fps
            audio = None if wave is None else wave[i].detach().float().cpu().numpy()
            results = {}
            for side, video in (("generated", generated[i]), ("real", batch["video"][i])):
                src = array_video(
                    str(clip_id), to_frames(video), rate, audio, chunk=self.options.batch
                )
                results[side] = score_video(src, self.ex)
            self.videos.append((str(clip_id), results))

    def on_test_end(self, module) -> None:
        videos = self._unique()
        for _, results in videos:
            for side, result in results.items():
                self._feed(result, real=side == "real")
        videos = _gather(videos)
        metrics = summarise(videos, self.ex, self.fid, self.fvd)
        metrics.update(generated=f"checkpoint test set ({len(videos)} windows)", real="test set")
        metrics["sampling"] = self.sampling
        for name, record in metrics["metrics"].items():
            if record.get("status") == "ok":
                module.log(f"test/{name}", float(record["value"]), rank_zero_only=True)
        if getattr(module, "global_rank", 0) == 0:
            write_outputs(self.out, metrics, videos)
        self.metrics = metrics

    def _unique(self) -> list:
        """This process's windows minus repeats: the test sampler fills its last batch (and
        every rank's share) by wrapping around, so a window is kept only where it first occurs
        in rank order."""
        names = [name for name, _ in self.videos]
        everyone = _gather([names])
        rank = torch.distributed.get_rank() if len(everyone) > 1 else 0
        seen = {name for part in everyone[:rank] for name in part}
        unique = []
        for name, results in self.videos:
            if name not in seen:
                seen.add(name)
                unique.append((name, results))
        return unique

    def _feed(self, result: VideoResult, real: bool) -> None:
        for metric, features in ((self.fid, result.fid), (self.fvd, result.fvd)):
            if metric is not None and features is not None and len(features):
                metric.update(torch.from_numpy(features), real=real)
        result.fid = result.fvd = None  # the sums keep what the distance needs


def _gather(items: list) -> list:
    """Every process's items, concatenated in rank order (the list itself without DDP)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return items
    parts: list = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, items)
    return [item for part in parts for item in part]


def evaluate_checkpoint(
    ckpt: Path,
    data: Path | None,
    out: Path,
    options: EvalOptions,
    stage: str = "audio",
    preset: str = "tiny",
    args: tuple[str, ...] = (),
    sampling: dict | None = None,
) -> dict:
    """Run Lightning's test loop on `data` with `ckpt` (stage/preset configs plus LightningCLI
    `args`), generating with `sampling` (default: `omni generate`'s, see `sampling_defaults`) and
    scoring through a MetricsHook; returns the metrics written to OUT/metrics.json."""
    if data is None:
        raise ValueError("--ckpt needs --data test.parquet (the test manifest to generate)")
    try:
        from omni.training.lightning_cli import run_test
    except ImportError as err:
        raise ValueError(f"--ckpt mode needs omni.training.lightning_cli ({err})") from err
    hook = MetricsHook(options, out, sampling)
    run_test(str(ckpt), [str(data)], stage=stage, preset=preset, args=list(args), hook=hook)
    return hook.metrics
