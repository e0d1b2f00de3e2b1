"""The LightningDataModule: manifests in, seeded bucketed batches with condition masks out.

Batches (see `dataset.collate`) hold:
- `video` (B, 3, F, H, W) float in [-1, 1], F = 1 + 4k frames at the sampling rate;
- `ref` (B, 3, 1, H, W), a frame of the same clip outside the window;
- `audio` (B, F, D) per-frame audio features (stages that use audio);
- `pose` (B, K, F, H, W) keypoint heatmaps (stages that use pose);
- `caption` list[str] ("" where text is dropped), `clip_id` list[str], `path` list[str] (source
  file) and `t0` (B,) (window start on its video timeline);
- with `motion_prob` > 0 (train and validation), `motion` (B, 3, M, H, W): the M =
  `motion_frames` clean frames just before the window (zeros where the sample has none) and
  `motion_active` (B,) bool, the samples that have them;
- `active`, `eligible` (B, 4) bool in `CONDITIONS` order; with a `cfg_drop`, `cfg_dropped` (B, 4)
  bool: conditions the closure rule switched on and the guidance drop switched off again;
  `key` (B,) int64 noise seeds; `fps` (B,) the window's frame rate;
- test and predict batches also `wave` (B, N) float32: the window's driving audio at 16 kHz
  (silence for clips without audio; zero-padded past F / fps seconds when rates differ) and
  `has_audio` (B,) bool; with pose loaded, `kp_xy` (B, F, K, 2) and `kp_conf` (B, F, K), the
  window's keypoints in its crop (zeros where pose is off); their windows are `test_frames` long;
- `skipped` list[str]: clips that failed to decode and were replaced (for the trainer's log).
With a feature cache (`cache_dir`), `latent`, `ref_latent` and `motion_latent` (the motion
frames' VAE latents) replace `video`, `ref` and `motion`: the cache is built on first use with
the LightningModule's VAE (`cache_encoder()`), each rank writing its share of the shards, and
rebuilt only when the data, the VAE or the settings change. Its windows and draws are the
decoding run's (see omni.datamodules.cache), so a cached run trains on the same batches.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader

from omni.datamodules.buckets import BucketBatchSampler, make_buckets
from omni.datamodules.cache import CachedClipDataset, CacheWriter, EncodeFn
from omni.datamodules.clips import ClipTable, MissingEligibility, load_clips
from omni.datamodules.conditions import ConditionRatios, GuidanceDrop
from omni.datamodules.dataset import AudioFn, ClipDataset, SampleSpec, collate
from omni.generate.segments import MOTION_FRAMES

log = logging.getLogger(__name__)


def _val_mask(clip_ids: list[str], fraction: float) -> np.ndarray:
    """Hold out clips by a hash of their id: stable under reordering and added manifests."""
    if fraction <= 0 or len(clip_ids) < 2:
        return np.zeros(len(clip_ids), bool)
    scores = np.array([int(hashlib.sha1(c.encode()).hexdigest()[:8], 16) / 16**8 for c in clip_ids])
    mask = scores < fraction
    if not mask.any():  # at least one validation clip
        mask[int(np.argmin(scores))] = True
    if mask.all():
        mask[int(np.argmax(scores))] = False
    return mask


def _subset(table: ClipTable, mask: np.ndarray) -> ClipTable:
    return ClipTable(
        table.df[mask].reset_index(drop=True),
        table.eligible[mask],
        table.excluded,
        table.total_rows,
    )


class OmniDataModule(pl.LightningDataModule):
    """Clips from manifest Parquet files, sampled per the stage's condition ratios.

    Args:
        manifests: manifest files (local paths or fsspec URLs); None = the built-in demo data,
            generated once and reused from its cache folder.
        val_manifests: validation manifests; None = hold out `val_fraction` of the clips.
        val_fraction: share of clips held out for validation when `val_manifests` is None.
        test_manifests: manifests of `omni test --ckpt` / the predict loop (every ok clip).
        num_frames: frames per window, 1 + 4k.
        fps: sampling frame rate; None = each clip's own rate.
        resolution: side of the square bucket; other buckets keep about resolution**2 pixels.
        aspect_ratios: bucket aspect ratios (width / height).
        bucket_multiple: bucket sides are multiples of this (VAE factor x patch size).
        batch_size: samples per device per step.
        num_workers: dataloader worker processes.
        seed: fixes windows, references, condition draws and noise, per (epoch, clip).
        ratios: per-sample probability of each condition (set by the stage YAML).
        cfg_drop: per-sample probability of switching each active condition off again after
            the closure rule, so classifier-free guidance's condition-off passes are trained
            (set by the stage YAML; None = no guidance drop).
        missing_eligibility: how to treat a clip whose eligibility flag is null.
        keypoints_column: manifest column naming each clip's keypoint side file.
        audio_sr: sample rate the audio is read at before feature extraction.
        pose_sigma: heatmap Gaussian width in pixels of the bucket resolution.
        cache_dir: feature cache folder (latents + audio features); None = decode raw video.
        cache_windows: training windows per clip stored in the cache: the windows of the first
            `cache_windows` epochs of a decoding run; later epochs reuse them in turn.
        motion_prob: per-sample probability of giving the model the `motion_frames` clean
            frames before the window as motion frames, as generation does for every segment
            after the first (set by the stage YAML; the feature cache stores their latents).
        motion_frames: frames before the window given as motion frames (generation: 5).
        test_frames: frames per test / predict window, 1 + 4k (None = `num_frames`). `omni test
            --ckpt` generates each window as `omni generate` would, so a window longer than
            `num_frames` is generated as several segments chained by motion frames.
        demo_clips: clips of built-in demo data to generate when `manifests` is None.
    """

    def __init__(
        self,
        manifests: list[str] | None = None,
        val_manifests: list[str] | None = None,
        val_fraction: float = 0.1,
        test_manifests: list[str] | None = None,
        num_frames: int = 9,
        fps: float | None = 25.0,
        resolution: int = 32,
        aspect_ratios: tuple[float, ...] = (1.0,),
        bucket_multiple: int = 16,
        batch_size: int = 2,
        num_workers: int = 0,
        seed: int = 0,
        ratios: ConditionRatios | None = None,
        cfg_drop: GuidanceDrop | None = None,
        missing_eligibility: MissingEligibility = "ineligible",
        keypoints_column: str = "keypoints_path",
        audio_sr: int = 16000,
        pose_sigma: float = 2.0,
        cache_dir: str | None = None,
        cache_windows: int = 4,
        demo_clips: int = 24,
        motion_prob: float = 0.0,
        motion_frames: int = MOTION_FRAMES,
        test_frames: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["ratios", "cfg_drop"])
        self.ratios = ratios or ConditionRatios(text=1.0)
        self.cfg_drop = cfg_drop
        self.buckets = tuple(make_buckets(resolution, aspect_ratios, bucket_multiple))
        self.spec = SampleSpec(
            num_frames=num_frames,
            buckets=self.buckets,
            load=self.ratios.used(),
            audio_sr=audio_sr,
            pose_sigma=pose_sigma,
            motion_prob=motion_prob,
            motion_frames=motion_frames,
        )
        self.audio_fn: AudioFn | None = None
        """Per-frame audio features; set from the LightningModule's model (its `audio_encoder()`),
        else omni.model.audio's default log-mel."""
        self.encoder: tuple[EncodeFn, str] | None = None
        """(encode, fingerprint) used to build the cache; set from the LightningModule."""
        self.train_table: ClipTable | None = None
        self.val_table: ClipTable | None = None
        self.test_table: ClipTable | None = None
        self._train_sampler: BucketBatchSampler | None = None
        self._cached: dict[str, CachedClipDataset] = {}
        self._resume: tuple[int, int] | None = None

    # -- data ------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        if self.hparams.manifests is None:
            from omni.datamodules.demo import demo_manifest

            demo_manifest(self.hparams.demo_clips, self.hparams.resolution, self.hparams.seed)

    def _manifests(self) -> list[str]:
        if self.hparams.manifests is not None:
            if not self.hparams.manifests:
                raise ValueError("data.manifests is an empty list; expected manifest paths/URLs")
            return list(self.hparams.manifests)
        from omni.datamodules.demo import demo_manifest

        return [
            str(demo_manifest(self.hparams.demo_clips, self.hparams.resolution, self.hparams.seed))
        ]

    def _load(self, manifests: list[str], num_frames: int | None = None) -> ClipTable:
        hp = self.hparams
        num_frames = num_frames or hp.num_frames
        table = load_clips(
            manifests, num_frames, hp.fps, self.buckets, hp.missing_eligibility,
            hp.keypoints_column,
        )  # fmt: skip
        if not len(table):
            raise ValueError(
                f"no clip can be sampled from {manifests}: {table.summary()}. Expected rows "
                f"with status=ok at least {num_frames + 1} frames long at the sampling fps."
            )
        log.info("data: %s", table.summary())
        return table

    def setup(self, stage: str | None = None) -> None:
        if stage in ("test", "predict"):
            self._setup_test()
            return
        if self.train_table is not None:
            return
        self._check_trainer()
        self._take_audio_encoder()
        table = self._load(self._manifests())
        if self.hparams.val_manifests is not None:
            self.train_table = table
            self.val_table = self._load(list(self.hparams.val_manifests))
        else:
            mask = _val_mask(table.df["clip_id"].astype(str).tolist(), self.hparams.val_fraction)
            self.train_table, self.val_table = _subset(table, ~mask), _subset(table, mask)
        if self.hparams.cache_dir is not None:
            self._prepare_cache()

    def _setup_test(self) -> None:
        if self.test_table is not None:
            return
        self._take_audio_encoder()
        if not self.hparams.test_manifests:
            raise ValueError(
                "the test and predict loops read data.test_manifests; expected a list of "
                "manifests, got none"
            )
        self.test_table = self._load(
            list(self.hparams.test_manifests), self._test_spec().num_frames
        )

    def _test_spec(self) -> SampleSpec:
        """Test and predict windows: `test_frames` long, no motion frames (generation makes
        its own)."""
        frames = self.hparams.test_frames or self.hparams.num_frames
        return replace(self.spec, num_frames=frames, motion_prob=0.0)

    # -- cache -----------------------------------------------------------------------------
    def _audio_id(self) -> str:
        fn = self.audio_fn
        if fn is None:
            return "log-mel-default"
        detail = getattr(fn, "__dict__", {})
        keep = {k: v for k, v in detail.items() if isinstance(v, int | float | str | tuple)}
        source = getattr(getattr(getattr(fn, "model", None), "config", None), "_name_or_path", "")
        return f"{type(fn).__name__}:{getattr(fn, '__name__', '')}:{source}:{sorted(keep.items())}"

    def cache_writer(self, table: ClipTable, name: str) -> CacheWriter:
        """The writer of the cache of `table` (train or val) under `cache_dir/name`."""
        if self.encoder is None:
            raise ValueError(
                "building the feature cache needs the VAE encoder: expected OmniDataModule.encoder "
                "= (encode, fingerprint) (set from the LightningModule's cache_encoder()), got None"
            )
        encode, fingerprint = self.encoder
        return CacheWriter(
            f"{self.hparams.cache_dir}/{name}", table, self.spec, encode, fingerprint,
            audio_fn=self.audio_fn, audio=self._audio_id(),
            windows_per_clip=self.hparams.cache_windows, seed=self.hparams.seed,
            train=name == "train",
        )  # fmt: skip

    def _prepare_cache(self) -> None:
        trainer = self.trainer
        if self.encoder is None and trainer is not None:
            encoder = getattr(trainer.lightning_module, "cache_encoder", None)
            self.encoder = encoder() if encoder is not None else None
        world, rank = self._world()
        for name, table in (("train", self.train_table), ("val", self.val_table)):
            if table is None or not len(table):
                continue
            writer = self.cache_writer(table, name)
            if not writer.is_complete():
                writer.write(rank, world)
                if trainer is not None:
                    trainer.strategy.barrier("omni-cache-shards")
                if rank == 0:
                    writer.finish()
                if trainer is not None:
                    trainer.strategy.barrier("omni-cache-index")
            cached = CachedClipDataset(writer.out, table, self.spec, self.ratios)
            if len(cached.failed):
                log.warning("cache %s: %d windows failed to decode", name, len(cached.failed))
            self._cached[name] = cached

    def _take_audio_encoder(self) -> None:
        """Use the model's own audio features, so data and model always agree on them."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        encoder = getattr(module, "audio_encoder", None)
        if self.audio_fn is None and encoder is not None:
            self.audio_fn = encoder()

    def _check_trainer(self) -> None:
        trainer = self.trainer
        if trainer is None:
            return
        connector = trainer._accelerator_connector
        if connector.is_distributed and connector.use_distributed_sampler:
            raise ValueError(
                "omni's bucket sampler shards batches across ranks itself; expected "
                "trainer.use_distributed_sampler: false, got true (set it in the config)"
            )

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _dataset(self, table: ClipTable, name: str) -> ClipDataset | CachedClipDataset:
        """The dataset of split `name` (train, val, test): cached for train/val when built;
        test batches decode raw `test_frames` windows and carry the driving waveform (`wave`),
        and no motion frames (generation chains its own segments)."""
        train = name == "train"
        if name in self._cached:
            cached = self._cached[name]
            return CachedClipDataset(
                cached.dir, table, self.spec, self.ratios, self.hparams.seed, train, self.cfg_drop
            )
        spec = self.spec if name != "test" else self._test_spec()
        return ClipDataset(
            table, spec, self.ratios, self.hparams.seed, train,
            audio_fn=self.audio_fn, cfg_drop=self.cfg_drop, wave=name == "test",
        )  # fmt: skip

    def _groups(self, table: ClipTable, name: str) -> list[list[int]]:
        groups = table.groups(len(self.buckets))
        if name in self._cached:  # clips whose every cached window failed are left out
            usable = self._cached[name].usable()
            groups = [[i for i in g if usable[i]] for g in groups]
        return groups

    def _loader(self, dataset: ClipDataset, sampler: BucketBatchSampler) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
            persistent_workers=workers > 0,
            pin_memory=False,
        )

    def train_sampler(self) -> BucketBatchSampler:
        world, rank = self._world()
        assert self.train_table is not None, "call setup() first"
        sampler = BucketBatchSampler(
            self._groups(self.train_table, "train"),
            self.hparams.batch_size,
            num_replicas=world,
            rank=rank,
            seed=self.hparams.seed,
        )
        if len(sampler) == 0:
            raise ValueError(
                f"no full batch: {len(self.train_table)} training clips over {len(self.buckets)} "
                f"buckets, global batch {sampler.global_batch_size}. Lower data.batch_size or "
                "add clips."
            )
        if self._resume is not None:
            sampler.resume(*self._resume)
            self._resume = None
        return sampler

    def train_dataloader(self) -> DataLoader:
        assert self.train_table is not None, "call setup() first"
        self._train_sampler = self.train_sampler()
        return self._loader(self._dataset(self.train_table, "train"), self._train_sampler)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_table is None or not len(self.val_table):
            return []
        world, rank = self._world()
        sampler = BucketBatchSampler(
            self._groups(self.val_table, "val"),
            self.hparams.batch_size,
            num_replicas=world,
            rank=rank,
            seed=self.hparams.seed,
            shuffle=False,
            drop_last=False,
        )
        return self._loader(self._dataset(self.val_table, "val"), sampler)

    def test_dataloader(self) -> DataLoader:
        """Every test clip once, fixed window (as validation), one rank's share."""
        assert self.test_table is not None, "call setup('test') first"
        world, rank = self._world()
        sampler = BucketBatchSampler(
            self.test_table.groups(len(self.buckets)),
            self.hparams.batch_size,
            num_replicas=world,
            rank=rank,
            shuffle=False,
            drop_last=False,
        )
        return self._loader(self._dataset(self.test_table, "test"), sampler)

    def predict_dataloader(self) -> DataLoader:
        """Every test clip once, one per batch (Lightning re-wraps the predict sampler)."""
        assert self.test_table is not None, "call setup('predict') first"
        return DataLoader(
            self._dataset(self.test_table, "test"),
            batch_size=1,
            num_workers=self.hparams.num_workers,
            collate_fn=collate,
        )

    # -- resume ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Data position saved in checkpoints: the epoch in progress and its consumed batches.

        A checkpoint written after its epoch ended (or at the end of fit) resumes with the next
        epoch from its start, as Lightning's loops do, so it records no batches to skip.
        """
        trainer = self.trainer
        if trainer is None:
            return {}
        epochs = trainer.fit_loop.epoch_progress.current
        in_progress = epochs.started > epochs.processed
        batches = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"epoch": epochs.processed, "batches_done": batches if in_progress else 0}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self._resume = (int(state["epoch"]), int(state["batches_done"]))
