"""Videos written from the training loops, every one with omni's provenance.

`SampleVideos`: every N steps, the first validation batch is generated with the EMA weights from
its own conditions (same noise every time, so successive samples show training progress, not
noise), written as an mp4 of real and generated windows side by side (`<run>/samples/step_<N>.mp4`),
shown in TensorBoard as a frame grid image, and summarised as `sample/mse` (generated vs. real
pixels) for every logger, CSV included.

`PredictionVideos`: `omni predict` writes each generated window with its driving audio.

Both write through `omni.provenance.write_marked_video` (`write_generated`): the invisible
watermark plus the provenance record in the container metadata, as `omni generate` does, so
`omni verify` recognises every video omni makes.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from einops import rearrange
from lightning.pytorch.callbacks import BasePredictionWriter, Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from omni.datamodules.conditions import mix_name
from omni.datamodules.dataset import WAVE_SR, is_empty
from omni.provenance import ProvenanceRecord, file_sha256, write_marked_video

log = logging.getLogger(__name__)


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] -> (B, T, H, W, 3) uint8."""
    video = ((video.float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu()
    return rearrange(video, "b c t h w -> b t h w c").numpy()


def side_by_side(real: np.ndarray, fake: np.ndarray, scale: int = 1) -> np.ndarray:
    """(B, T, H, W, 3) x2 -> (T, B*H*scale, 2*W*scale, 3): rows are samples, real on the left."""
    pair = np.concatenate([real, fake], axis=3)  # (B, T, H, 2W, 3)
    frames = rearrange(pair, "b t h w c -> t (b h) w c")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    return np.ascontiguousarray(frames)


def write_generated(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float,
    record: ProvenanceRecord,
    audio: np.ndarray | None = None,
    sr: int = WAVE_SR,
) -> Path:
    """Write generated frames (T, H, W, 3) uint8 (+ audio) with the watermark and `record`.

    Pictures smaller than the watermark's minimum side (`omni.generate.pipeline.MARK_MIN_SIDE`)
    are enlarged by a whole factor (nearest neighbour), as `omni generate` does.
    """
    from omni.generate.pipeline import MARK_MIN_SIDE

    side = min(frames.shape[1:3])
    if side < MARK_MIN_SIDE:
        scale = -(-MARK_MIN_SIDE // side)
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    return write_marked_video(path, np.ascontiguousarray(frames), fps, audio, sr, record=record)


def checkpoint_sha256(path: str) -> str:
    """sha256 of a checkpoint file, computed once per file version (path, size, mtime)."""
    stat = os.stat(path)
    return _sha256(path, stat.st_size, stat.st_mtime_ns)


@cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


class SampleVideos(Callback):
    """Generate the first validation batch every `every_n_steps` optimizer steps (0 = never).

    Args:
        every_n_steps: steps between samples.
        num_samples: rows of the validation batch to generate.
        steps: sampler steps (None = the module's `sample_steps`).
    """

    def __init__(self, every_n_steps: int = 100, num_samples: int = 2, steps: int | None = None):
        self.every_n_steps = every_n_steps
        self.num_samples = num_samples
        self.steps = steps
        self._batch: dict | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every_n_steps <= 0 or step == 0 or step % self.every_n_steps:
            return
        if type(trainer.strategy).__name__.startswith(("FSDP", "DeepSpeed", "ModelParallel")):
            return  # sharded weights: sampling would need every rank; use `omni generate` instead
        self._sample(trainer, module, step)

    def _fixed_batch(self, trainer: pl.Trainer) -> dict | None:
        """The first validation batch with a decodable clip (None: no such batch)."""
        if self._batch is None:
            loader = trainer.datamodule.val_dataloader() if trainer.datamodule else None
            batch = next((b for b in loader or [] if not is_empty(b)), {})
            n = self.num_samples
            self._batch = {k: v[:n] if hasattr(v, "__getitem__") else v for k, v in batch.items()}
        return self._batch or None

    @rank_zero_only
    def _sample(self, trainer: pl.Trainer, module, step: int) -> None:
        batch = self._fixed_batch(trainer)
        if batch is None or "video" not in batch:  # no validation data, or latents from a cache
            return
        batch = {k: v.to(module.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        was_training = module.training
        module.eval()
        fake = module.sample(batch, steps=self.steps)
        module.train(was_training)
        real = batch["video"]
        mse = float(((fake.float() - real.float()) ** 2).mean())
        for logger in trainer.loggers:
            logger.log_metrics({"sample/mse": mse}, step=step)
        scale = max(1, 128 // real.shape[-2])  # tiny presets are 32 px: enlarge to watch
        frames = side_by_side(to_uint8(real), to_uint8(fake), scale)
        root = Path(trainer.log_dir or trainer.default_root_dir) / "samples"
        fps = (
            float(batch["fps"][0]) if "fps" in batch else 25.0
        )  # the first row's rate for the grid
        record = ProvenanceRecord(
            seed=None,
            conditions={
                "source": f"training sample at step {step} (left real, right generated)",
                "clips": " ".join(map(str, batch["clip_id"])),
            },
        )
        path = write_generated(root / f"step_{step:07d}.mp4", frames, fps, record)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                grid = rearrange(frames, "t h w c -> h (t w) c")
                logger.experiment.add_image("samples", grid, step, dataformats="HWC")
        log.info("sample videos at step %d: %s (mse %.4f)", step, path, mse)


class PredictionVideos(BasePredictionWriter):
    """`omni predict`: write each generated window as `<out_dir>/<clip_id>.mp4` with the
    window's driving audio (the batch's `wave`, when the clip has audio), the watermark and a
    provenance record (checkpoint sha256, noise seed, conditions), so the result can be watched,
    scored and verified (`omni verify`).

    Args:
        out_dir: output folder; None = `<run folder>/predictions`.
    """

    def __init__(self, out_dir: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.out_dir = out_dir

    def write_on_batch_end(
        self, trainer, module, prediction, batch_indices, batch, batch_idx, dataloader_idx
    ) -> None:
        if not prediction["clip_id"]:  # every clip of the batch failed to decode
            return
        root = Path(
            self.out_dir or Path(trainer.log_dir or trainer.default_root_dir) / "predictions"
        )
        ckpt = getattr(trainer, "ckpt_path", None)
        sha = checkpoint_sha256(str(ckpt)) if ckpt and Path(ckpt).is_file() else None
        for i, (clip_id, frames) in enumerate(
            zip(prediction["clip_id"], to_uint8(prediction["video"]), strict=True)
        ):
            fps = float(batch["fps"][i]) if "fps" in batch else 25.0
            audio = None
            if "wave" in batch and bool(batch["has_audio"][i]):
                n = round(len(frames) / fps * WAVE_SR)
                audio = batch["wave"][i, :n].float().cpu().numpy()
            record = ProvenanceRecord(
                checkpoint_sha256=sha,
                seed=int(batch["key"][i]) + 7,  # module.sample's noise seed
                conditions=_conditions(batch, i),
            )
            write_generated(root / f"{clip_id}.mp4", frames, fps, record, audio)


def _conditions(batch: dict, i: int) -> dict[str, str]:
    """The provenance `conditions` of sample i of a test batch."""
    out = {"clip": str(batch["clip_id"][i]), "active": mix_name(batch["active"][i].cpu().numpy())}
    if "path" in batch:
        out["source"] = str(batch["path"][i])
        out["window_start_s"] = f"{float(batch['t0'][i]):.3f}"
    if batch["caption"][i]:
        out["text"] = str(batch["caption"][i])
    return out
