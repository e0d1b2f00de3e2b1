"""`OmniModule`: the LightningModule of the t2v / text_ref / audio / pose stages.

One step: encode the window and its reference with the (frozen) VAE unless the batch comes from
the feature cache; encode captions; draw each sample's noise and timestep from its `key`; run the
MMDiT on x_t with the sample's condition masks; the loss is the velocity MSE on the noisy video
tokens only (the reference and motion tokens are clean context). Samples with motion frames
(`motion_active`) run in their own forward pass with the VAE latents of those frames packed
exactly as `OmniPipeline` packs a later segment's; the others run without motion tokens, as the
first segment does (a present-but-masked motion latent would shift their RoPE time indices).
Logged: `train/loss`, the loss per condition mix (`train/loss_mix/<mix>`, `+motion` for samples
with motion frames), the mix fractions (`mix/<mix>`), the guidance drops (`cfg_drop/<condition>`),
skipped clips (`data/skipped`, `val/skipped`: clips that failed to decode, each also logged with
its reason). A batch whose every clip failed is stepped over; a validation whose every clip
failed logs no loss and warns instead.
Validation runs with the EMA weights at fixed timesteps (`val/loss`, `val/loss_t<t>`).
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from omni.datamodules.conditions import CONDITIONS, mix_counts
from omni.datamodules.dataset import is_empty
from omni.model.conditions import Conditions
from omni.model.flow import TimestepSampler, sample_path
from omni.model.sampler import FlowSampler, GuidanceTerm
from omni.training.ema import EMA
from omni.training.hooks import TestHook
from omni.training.loss import (
    loss_by_mix,
    motion_weights,
    per_sample_mse,
    seeded_noise,
    seeded_timesteps,
)
from omni.training.network import NetworkConfig, build_network, load_init
from omni.training.optim import adamw_with_warmup

log = logging.getLogger(__name__)


class OmniModule(pl.LightningModule):
    """Flow matching of the conditioned MMDiT with omni-condition dropout.

    Args:
        preset: MMDiT size preset (omni.model.presets).
        network: VAE, text encoder and MMDiT overrides (see `NetworkConfig`).
        trainable: glob patterns of parameter names that train (`mmdit.*`, `text.*`, ...);
            everything else is frozen. The VAE never trains here (`--stage vae` trains it).
        init_from: checkpoint of the previous stage; its EMA weights initialise the model and
            parameters it lacks (new condition paths) keep their zero initialisation.
        lr: AdamW peak learning rate.
        weight_decay: AdamW weight decay.
        betas: AdamW betas.
        warmup_steps: linear learning-rate warm-up from 0.
        lr_final_ratio: with < 1, a cosine decay after the warm-up takes the learning rate down
            to `lr * lr_final_ratio` at the trainer's last step (`max_steps`); 1 keeps it constant.
        motion_weight: with > 0, the training loss weights each latent cell by how much it moves
            in the window (`omni.training.loss.motion_weights`: 1 + motion_weight x its relative
            temporal spread, mean 1 per sample), so a small moving part such as a talking mouth
            is not drowned by the still frame; 0 is the plain MSE. Validation stays plain MSE.
        ema_decay: decay of the EMA weights (used for validation, samples and export).
        timesteps: training timestep distribution (logit-normal with resolution shift).
        val_timesteps: fixed timesteps of the validation loss.
        gradient_checkpointing: recompute each block in the backward pass (less memory).
        sample_steps: sampler steps of the sample videos and of `sample()`.
    """

    def __init__(
        self,
        preset: str = "tiny",
        network: NetworkConfig | None = None,
        trainable: tuple[str, ...] = ("mmdit.*", "text.*"),
        init_from: str | None = None,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        warmup_steps: int = 100,
        lr_final_ratio: float = 1.0,
        motion_weight: float = 0.0,
        ema_decay: float = 0.999,
        timesteps: TimestepSampler | None = None,
        val_timesteps: tuple[float, ...] = (0.25, 0.5, 0.75),
        gradient_checkpointing: bool = False,
        sample_steps: int = 20,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = build_network(preset, network or NetworkConfig(), gradient_checkpointing)
        if init_from is not None:
            load_init(self.model, init_from)
        self._freeze(trainable)
        self.ema = EMA(self.model, ema_decay)
        self.timesteps = timesteps or TimestepSampler()
        self.test_hook: TestHook | None = None
        self._mix_log: Path | None = None

    def _freeze(self, patterns: tuple[str, ...]) -> None:
        names = []
        for name, p in self.model.named_parameters():
            train = not name.startswith("vae.") and any(fnmatch.fnmatch(name, g) for g in patterns)
            p.requires_grad_(train)
            names.append(name) if train else None
        if not names:
            raise ValueError(
                f"model.trainable {list(patterns)} matches no parameter; expected patterns like "
                "'mmdit.*' or 'text.*'"
            )

    # -- conditioning --------------------------------------------------------------------------
    def audio_encoder(self):
        """The per-frame audio feature function the datamodule must use (the model's own)."""
        return self.model.audio

    def cache_encoder(self):
        """(encode, fingerprint) for the datamodule's feature cache: the VAE's encoder."""
        vae = self.model.vae
        digest = sum(float(p.double().sum()) for p in vae.parameters())
        return (lambda video: vae.encode(video.to(self.device)).cpu()), (
            f"{type(vae).__name__}:{vae.latent_channels}:{digest:.10e}"
        )

    @torch.no_grad()
    def latents(self, batch: dict) -> tuple[Tensor, Tensor]:
        """(x0, ref) latents of the batch: from the cache, or encoded by the frozen VAE."""
        if "latent" in batch:
            return batch["latent"], batch["ref_latent"]
        return self.model.encode_video(batch["video"]), self.model.encode_video(batch["ref"])

    def conditions(self, batch: dict, ref: Tensor) -> Conditions:
        """The batch's conditions with its per-sample masks (`active` (B, 4))."""
        text = self.model.encode_text(list(batch["caption"]))
        active = batch["active"].bool()
        return Conditions(
            text=text.tokens,
            text_mask=text.mask,
            text_pooled=text.pooled,
            ref=ref,
            audio=batch.get("audio"),
            pose=batch.get("pose"),
            active={name: active[:, i] for i, name in enumerate(CONDITIONS)},
        )

    def passes(self, batch: dict, cond: Conditions) -> list[tuple[Tensor, Conditions]]:
        """The forward passes of a batch: (rows (B,) bool, their Conditions) for the samples
        without motion frames, and for those with them (`cond.motion` their VAE latents, from
        the feature cache's `motion_latent` or encoded from `motion`)."""
        on = batch.get("motion_active")
        b = len(batch["key"])
        if on is None or not bool(on.any()):
            return [(torch.ones(b, dtype=torch.bool, device=self.device), cond)]
        on = on.bool().to(self.device)
        if "motion_latent" in batch:  # from the feature cache
            motion = batch["motion_latent"][on]  # (B_on, C, M', h, w)
        else:
            with torch.no_grad():
                motion = self.model.encode_video(batch["motion"][on])  # (B_on, C, M', h, w)
        rows = cond.select(on)
        with_motion = dataclasses.replace(
            rows, motion=motion, active={**rows.active, "motion": torch.ones_like(on[on])}
        )
        passes = [(on, with_motion)]
        if not bool(on.all()):
            passes.insert(0, (~on, cond.select(~on)))
        return passes

    def _num_tokens(self, x0: Tensor) -> int:
        _, ph, pw = self.model.mmdit.config.patch_size
        return x0.shape[2] * (x0.shape[3] // ph) * (x0.shape[4] // pw)

    def losses(self, batch: dict, t: Tensor | None = None, weighted: bool = False) -> Tensor:
        """(B,) flow-matching loss per sample; t None = seeded training timesteps; `weighted`
        applies the `motion_weight` cell weights (the training loss)."""
        x0, ref = self.latents(batch)
        cond = self.conditions(batch, ref)
        keys = batch["key"]
        noise = seeded_noise(keys, x0.shape[1:], x0)
        if t is None:
            t = seeded_timesteps(keys, self.timesteps, self._num_tokens(x0), x0)
        path = sample_path(x0, noise, t)
        weight = motion_weights(x0, self.hparams.motion_weight) if weighted else None
        losses = torch.zeros(len(keys), device=x0.device)  # fp32, whatever the model's dtype
        for rows, c in self.passes(batch, cond):
            velocity = self.model.mmdit(path.x_t[rows], t[rows], c)  # noisy frames only
            w = None if weight is None else weight[rows]
            losses[rows] = per_sample_mse(velocity, path.target[rows], w)
        return losses

    # -- training ------------------------------------------------------------------------------
    def _count_skipped(self, batch: dict, key: str) -> None:
        """Log how many clips of the batch failed to decode (summed per epoch), with reasons."""
        notes = _warn_skipped(batch)
        size = max(1, len(batch.get("key", ())))
        sync = key.startswith("val/")
        self.log(key, float(len(notes)), reduce_fx="sum", batch_size=size, sync_dist=sync)

    def _skip_empty_step(self) -> Tensor | None:
        """The training step of a batch none of whose clips decoded: skipped on one process;
        with several, a zero loss over the trainable weights, so every rank still joins the
        gradient all-reduce (this rank adds zero gradients)."""
        log.warning("training batch skipped: none of its clips could be decoded")
        if self.trainer.world_size == 1:
            return None
        return sum(p.sum() * 0.0 for p in self.model.parameters() if p.requires_grad)

    def on_train_epoch_start(self) -> None:
        self._epoch_batches = {"seen": 0, "empty": 0, "first": ""}

    def on_train_epoch_end(self) -> None:
        """Stop a run none of whose training clips decodes, rather than skip batches forever."""
        seen = getattr(self, "_epoch_batches", {"seen": 0})
        if seen["seen"] and seen["empty"] == seen["seen"]:
            raise RuntimeError(
                f"no training clip could be decoded in epoch {self.current_epoch}: all "
                f"{seen['seen']} batches failed (first: {seen['first']}). Check the training "
                "manifests with `omni curate probe`."
            )

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        seen = getattr(self, "_epoch_batches", None)
        if seen is not None:
            seen["seen"] += 1
        if is_empty(batch):
            if seen is not None:
                seen["empty"] += 1
                seen["first"] = seen["first"] or next(iter(batch["skipped"]), "")
            self._count_skipped(batch, "data/skipped")
            return self._skip_empty_step()
        losses = self.losses(batch, weighted=True)
        loss = losses.mean()
        b = len(losses)
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        motion = batch.get("motion_active")
        for name, (value, n) in loss_by_mix(losses.detach(), batch["active"], motion).items():
            self.log(f"train/loss_mix/{name}", value, batch_size=n)
            self.log(f"mix/{name}", n / b, batch_size=b)
        if "cfg_dropped" in batch:  # share of the batch each guidance drop switched off
            dropped = batch["cfg_dropped"].float().mean(0)
            for i, name in enumerate(CONDITIONS):
                self.log(f"cfg_drop/{name}", dropped[i], batch_size=b)
        self._count_skipped(batch, "data/skipped")
        self._record_mix(batch)
        return loss

    def _record_mix(self, batch: dict) -> None:
        """Append this rank's batch (step, epoch, clip ids, mix counts, guidance drops) to
        <log_dir>/condition_mix_rank<r>.csv: every batch's mix, auditable after the run."""
        if self._mix_log is None:
            root = Path(self.trainer.log_dir or self.trainer.default_root_dir)
            self._mix_log = root / f"condition_mix_rank{self.global_rank}.csv"
            self._mix_log.parent.mkdir(parents=True, exist_ok=True)
        motion = batch.get("motion_active")
        counts = mix_counts(
            batch["active"].cpu().numpy(), None if motion is None else motion.cpu().numpy()
        )
        with self._mix_log.open("a", newline="") as f:
            mixes = ";".join(f"{k}={v}" for k, v in counts.items())
            ids = " ".join(map(str, batch["clip_id"]))
            dropped = batch.get("cfg_dropped")
            drops = (
                ""
                if dropped is None
                else ";".join(
                    f"{name}={int(n)}"
                    for name, n in zip(CONDITIONS, dropped.sum(0), strict=True)
                    if n
                )
            )
            csv.writer(f).writerow([self.global_step, self.current_epoch, ids, mixes, drops])

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.ema.update(self.model)

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        total = 0
        if hp.lr_final_ratio < 1.0:
            total = int(self.trainer.estimated_stepping_batches)
        return adamw_with_warmup(
            self.model.parameters(), hp.lr, hp.weight_decay, hp.warmup_steps, tuple(hp.betas),
            total_steps=total, final_ratio=hp.lr_final_ratio,
        )  # fmt: skip

    # -- validation / test with EMA weights ------------------------------------------------------
    def _ema_on(self) -> None:
        self._ema_ctx = self.ema.swapped(self.model)
        self._ema_ctx.__enter__()

    def _ema_off(self) -> None:
        ctx, self._ema_ctx = getattr(self, "_ema_ctx", None), None
        if ctx is not None:
            ctx.__exit__(None, None, None)

    def on_validation_epoch_start(self) -> None:
        self._ema_on()
        self._val_count = _val_counter()

    def on_validation_epoch_end(self) -> None:
        self._ema_off()
        count = getattr(self, "_val_count", None) or _val_counter()
        if count["decoded"] == 0 and count["skipped"] > 0:
            log.warning(
                "validation skipped: none of the %d validation clips could be decoded (first: "
                "%s); no val/loss this time, training goes on. Check the validation manifest "
                "with `omni curate probe` or set data.val_manifests.",
                count["skipped"],
                count["first"],
            )

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._count_skipped(batch, "val/skipped")
        if getattr(self, "_val_count", None) is None:  # called outside Lightning's loop
            self._val_count = _val_counter()
        count = self._val_count
        notes = batch.get("skipped", [])
        count["skipped"] += len(notes)
        count["first"] = count["first"] or (notes[0] if notes else "")
        if is_empty(batch):
            if self.trainer.world_size > 1:  # every rank logs the same keys; weight 0 here
                self._log_val(torch.zeros(len(self.hparams.val_timesteps), device=self.device), 0)
            return
        b = len(batch["key"])
        count["decoded"] += b
        values = []
        for t_value in self.hparams.val_timesteps:
            t = torch.full((b,), float(t_value), device=self.device)
            values.append(self.losses(batch, t).mean())
        self._log_val(torch.stack(values), b)

    def _log_val(self, losses: Tensor, b: int) -> None:
        """Log the loss at each validation timestep and their mean, weighted by `b` samples."""
        for t_value, loss in zip(self.hparams.val_timesteps, losses, strict=True):
            self.log(f"val/loss_t{t_value:g}", loss, sync_dist=True, batch_size=b)
        self.log("val/loss", losses.mean(), sync_dist=True, prog_bar=True, batch_size=b)

    def on_test_epoch_start(self) -> None:
        self._ema_on()
        if self.test_hook is not None:
            self.test_hook.on_test_start(self)

    def test_step(self, batch: dict, batch_idx: int) -> Any:
        _warn_skipped(batch)
        if is_empty(batch):
            return None
        if self.test_hook is not None:
            return self.test_hook.test_step(self, batch, batch_idx)
        self._fixed_t_losses(batch, "test")

    def on_test_epoch_end(self) -> None:
        if self.test_hook is not None:
            self.test_hook.on_test_end(self)
        self._ema_off()

    # -- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        batch: dict,
        steps: int | None = None,
        guidance: tuple[GuidanceTerm, ...] = (),
        use_ema: bool = True,
    ) -> Tensor:
        """Generate the batch's windows from its conditions: video (B, 3, F, H, W) in [-1, 1].

        Noise comes from each sample's key, so the same batch gives the same video.
        """
        x0, ref = self.latents(batch)
        cond = self.conditions(batch, ref)
        noise = seeded_noise(batch["key"] + 7, x0.shape[1:], x0)
        sampler = FlowSampler(steps or self.hparams.sample_steps, guidance=guidance)
        swap = self.ema.swapped(self.model) if use_ema and self._ema_ctx_off() else nullcontext()
        with swap:
            latent = sampler.sample(self.model.mmdit, noise, cond)
        return self.model.decode_latent(latent).clamp(-1, 1)

    def _ema_ctx_off(self) -> bool:
        return getattr(self, "_ema_ctx", None) is None

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        _warn_skipped(batch)
        if is_empty(batch):
            return {"clip_id": [], "video": torch.zeros(0)}
        return {"clip_id": batch["clip_id"], "video": self.sample(batch).cpu()}

    # -- checkpoints ---------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["ema"] = self.ema.state_dict()
        checkpoint["omni_model_config"] = self.model.config.to_dict()  # read by `omni export`

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "ema" in checkpoint:
            self.ema.load_state_dict(checkpoint["ema"])


def _warn_skipped(batch: dict) -> list[str]:
    """Log each clip of the batch that failed to decode, with its reason; the reasons."""
    notes = batch.get("skipped", [])
    for note in notes:
        log.warning("clip skipped (decode failed): %s", note)
    return notes


def _val_counter() -> dict:
    """Per validation epoch: samples decoded, clips skipped, the first skip's reason."""
    return {"decoded": 0, "skipped": 0, "first": ""}
