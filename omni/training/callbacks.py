"""Sample videos during training, with the EMA weights, every N steps.

Each time: the first validation batch is generated from its own conditions (same noise every
time, so successive samples show training progress, not noise), written as an mp4 of real and
generated windows side by side (`<run>/samples/step_<N>.mp4`), shown in TensorBoard as a frame
grid image, and summarised as `sample/mse` (generated vs. real pixels) for every logger, CSV
included.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from einops import rearrange
from lightning.pytorch.callbacks import BasePredictionWriter, Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from omni.datamodules.remote import local_path
from omni.media import MediaError, read_audio, write_video

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
        if self._batch is None:
            loader = trainer.datamodule.val_dataloader() if trainer.datamodule else None
            if not loader:
                return None
            batch = next(iter(loader))
            n = self.num_samples
            self._batch = {k: v[:n] if hasattr(v, "__getitem__") else v for k, v in batch.items()}
        return self._batch

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
        fps = float(getattr(trainer.datamodule, "hparams", {}).get("fps") or 25.0)
        path = write_video(root / f"step_{step:07d}.mp4", frames, fps=fps)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                grid = rearrange(frames, "t h w c -> h (t w) c")
                logger.experiment.add_image("samples", grid, step, dataformats="HWC")
        log.info("sample videos at step %d: %s (mse %.4f)", step, path, mse)


class PredictionVideos(BasePredictionWriter):
    """`omni predict`: write each generated window as `<out_dir>/<clip_id>.mp4` with the clip's
    own audio over the window (when it has audio), so the result can be watched and scored.

    Args:
        out_dir: output folder; None = `<run folder>/predictions`.
        sr: sample rate of the muxed audio.
    """

    def __init__(self, out_dir: str | None = None, sr: int = 16000) -> None:
        super().__init__(write_interval="batch")
        self.out_dir, self.sr = out_dir, sr

    def write_on_batch_end(
        self, trainer, module, prediction, batch_indices, batch, batch_idx, dataloader_idx
    ) -> None:
        root = Path(
            self.out_dir or Path(trainer.log_dir or trainer.default_root_dir) / "predictions"
        )
        fps = float(getattr(trainer.datamodule, "hparams", {}).get("fps") or 25.0)
        for i, (clip_id, frames) in enumerate(
            zip(prediction["clip_id"], to_uint8(prediction["video"]), strict=True)
        ):
            audio = None
            if "path" in batch and bool(batch["eligible"][i, 2]):
                t0 = float(batch["t0"][i])
                try:
                    path = local_path(batch["path"][i])
                    audio = read_audio(path, self.sr, t0, t0 + len(frames) / fps)
                except MediaError as err:
                    log.warning("no audio for %s: %s", clip_id, err)
            write_video(root / f"{clip_id}.mp4", frames, fps, audio=audio, sr=self.sr)
