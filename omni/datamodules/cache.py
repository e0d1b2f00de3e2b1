"""Feature cache: VAE latents, audio features and window keypoints written once to shards.

Decoding and encoding video is most of a training step's data cost; the cache does it once per
clip for `windows_per_clip` fixed windows and training reads the results back. Layout of a cache
folder:

    meta.json                  what the cache was made with (must match the run that reads it),
                               with the format `version` (readers refuse any other)
    shard-00000.safetensors    tensors `<slot>.latent`, `<slot>.ref_latent`, `<slot>.audio`,
                               `<slot>.kp_xy`, `<slot>.kp_conf` and, where the clip has
                               `motion_frames` frames before the window, `<slot>.motion_latent`
                               (those frames encoded, as generation's motion frames); its rows as
                               JSON metadata
    index.parquet              one row per (clip, window): shard, slot, t0, start, motion, or the
                               error

The windows are the decoding dataset's own: training window w of a clip is the window
`ClipDataset` draws for that clip at epoch w, the validation window its fixed centred one, and a
cached sample replays `ClipDataset`'s random draws (conditions, motion frames, noise key). So for
the same seed a cached run gives the same batches as a decoding run (latents in place of pixels)
for its first `windows_per_clip` epochs and in every validation; later epochs reuse the cached
windows in turn, with their own condition and motion draws.

Shards are written atomically and each covers a fixed range of clips, so an interrupted build
resumes with the shards it has, and ranks can build disjoint shards in parallel. A clip that fails
to decode gets an index row with its error and is never sampled from the cache.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from functools import cached_property, lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from rich.progress import Progress
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import Dataset

from omni.datamodules.clips import ClipTable, choose_window
from omni.datamodules.conditions import CONDITIONS, ConditionRatios, GuidanceDrop
from omni.datamodules.dataset import (
    VAL_EPOCH,
    AudioFn,
    ClipDataset,
    SampleSpec,
    draw_motion,
    draw_sample_conditions,
    sample_key,
    sample_rng,
)
from omni.media import MediaError

log = logging.getLogger(__name__)

CACHE_VERSION = 2
"""Format of a cache folder. 2: motion-frame latents, the decoding dataset's windows."""
EncodeFn = Callable[[torch.Tensor], torch.Tensor]
"""(B, 3, T, H, W) in [-1, 1] -> latent (B, C, t, h, w) (the model's VAE encoder)."""


def cache_meta(
    table: ClipTable,
    spec: SampleSpec,
    windows_per_clip: int,
    seed: int,
    encoder: str,
    audio: str,
    shard_size: int,
    train: bool = True,
) -> dict:
    """What a cache depends on; a cache is only read by a run whose meta is identical."""
    return {
        "version": CACHE_VERSION,
        "split": "train" if train else "val",
        "clips": table.df["clip_id"].astype(str).tolist(),
        "num_frames": spec.num_frames,
        "motion_frames": spec.motion_frames,
        "fps": table.df["fps_t"].astype(float).tolist(),
        "buckets": [list(b) for b in spec.buckets],
        "windows_per_clip": windows_per_clip if train else 1,
        "seed": seed,
        "encoder": encoder,
        "audio": audio,
        "shard_size": shard_size,
    }


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_version(folder: Path) -> dict:
    """The meta.json of a cache folder, if its format is this omni's (else a ValueError)."""
    path = folder / "meta.json"
    if not path.exists():
        raise ValueError(
            f"{folder} holds no meta.json: not a finished feature cache. Re-run "
            "`omni curate cache` (or `omni fit` with this data.cache_dir) to build it."
        )
    meta = json.loads(path.read_text())
    if meta.get("version") != CACHE_VERSION:
        raise ValueError(
            f"{folder} holds a feature cache of format version {meta.get('version')}; this omni "
            f"reads version {CACHE_VERSION} (it adds the motion-frame latents). Delete that "
            "folder and re-run `omni curate cache` (or `omni fit` with the same data.cache_dir) "
            "to rebuild it."
        )
    return meta


def cached_window(
    n_frames: int, num_frames: int, seed: int, clip: int, window: int, train: bool
) -> tuple[int, int]:
    """(start, reference) of a clip's cached window: `ClipDataset`'s draw at epoch `window`
    (training), or its fixed validation window."""
    if not train:
        return choose_window(n_frames, num_frames, None)
    return choose_window(n_frames, num_frames, sample_rng(seed, window, clip))


class CacheWriter:
    """Builds a cache folder for the clips of a ClipTable."""

    def __init__(
        self,
        out_dir: str | os.PathLike,
        table: ClipTable,
        spec: SampleSpec,
        encode: EncodeFn | None,
        encoder: str,
        audio_fn: AudioFn | None = None,
        audio: str = "log-mel",
        windows_per_clip: int = 4,
        seed: int = 0,
        shard_size: int = 32,
        train: bool = True,
    ) -> None:
        self.out = Path(out_dir)
        self.table = table
        self.spec = spec
        self.encode = encode
        self.train = train
        self.windows = windows_per_clip if train else 1  # validation has one fixed window
        self.seed = seed
        self.shard_size = shard_size
        self.meta = cache_meta(
            table, spec, windows_per_clip, seed, encoder, audio, shard_size, train
        )
        # decode every condition a clip is eligible for, whatever the stage
        full = SampleSpec(
            spec.num_frames, spec.buckets, CONDITIONS, spec.audio_sr, spec.pose_sigma,
            motion_frames=spec.motion_frames,
        )  # fmt: skip
        self.dataset = ClipDataset(
            table, full, ConditionRatios(), seed, train=False, audio_fn=audio_fn
        )

    @property
    def num_shards(self) -> int:
        return -(-len(self.table) // self.shard_size)

    def shard_path(self, k: int) -> Path:
        return self.out / f"shard-{k:05d}.safetensors"

    def is_complete(self) -> bool:
        meta = self.out / "meta.json"
        return (
            meta.exists()
            and (self.out / "index.parquet").exists()
            and json.loads(meta.read_text()) == self.meta
        )

    def check_folder(self) -> None:
        meta = self.out / "meta.json"
        if meta.exists() and check_version(self.out) != self.meta:
            raise ValueError(
                f"{self.out} holds a cache made for other data, model or settings "
                f"({meta}); expected {json.dumps({k: v for k, v in self.meta.items() if k != 'clips'})}. "
                "Use another data.cache_dir or delete that folder."
            )

    def write(self, rank: int = 0, world: int = 1, progress: bool = True) -> None:
        """Write the shards k with k % world == rank that are not there yet."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.check_folder()
        todo = [k for k in range(rank, self.num_shards, world) if not self.shard_path(k).exists()]
        with Progress(disable=not progress) as bar:
            task = bar.add_task(f"caching features (rank {rank})", total=len(todo))
            for k in todo:
                self._write_shard(k)
                bar.advance(task)

    def finish(self) -> None:
        """Collect every shard's rows into index.parquet and write meta.json (rank 0, last)."""
        rows = []
        for k in range(self.num_shards):
            with safe_open(str(self.shard_path(k)), "pt") as f:
                rows += json.loads(f.metadata()["rows"])
        index = pd.DataFrame(rows)
        _atomic_write(self.out / "index.parquet", lambda tmp: index.to_parquet(tmp))
        _atomic_write(
            self.out / "meta.json", lambda tmp: Path(tmp).write_text(json.dumps(self.meta))
        )
        failed = index["error"].notna().sum()
        log.info("cache %s: %d windows, %d failed", self.out, len(index), failed)

    def _write_shard(self, k: int) -> None:
        tensors, rows = {}, []
        lo, hi = k * self.shard_size, min((k + 1) * self.shard_size, len(self.table))
        for clip in range(lo, hi):
            for window in range(self.windows):
                slot = len(rows)
                row = {"clip": clip, "window": window, "shard": k, "slot": slot, "error": None}
                try:
                    row["t0"], row["start"], entry = self._encode_window(clip, window)
                    row["motion"] = "motion_latent" in entry
                except (MediaError, OSError, ValueError, RuntimeError) as err:
                    row.update(t0=None, start=None, motion=False, error=str(err))
                    rows.append(row)
                    continue
                tensors.update({f"{slot}.{name}": t.contiguous() for name, t in entry.items()})
                rows.append(row)
        meta = {"rows": json.dumps(rows)}
        _atomic_write(self.shard_path(k), lambda tmp: save_file(tensors, tmp, metadata=meta))

    @torch.no_grad()
    def _encode_window(self, clip: int, window: int) -> tuple[float, int, dict[str, torch.Tensor]]:
        """(t0, start, tensors) of one window; the window and the `motion_frames` frames before
        it (where the clip has them) are decoded in one seek, as `ClipDataset` does."""
        ds, row = self.dataset, self.dataset._rows[clip]
        n, m = self.spec.num_frames, self.spec.motion_frames
        start, ref = cached_window(row["n_frames"], n, self.seed, clip, window, self.train)
        m = m if start >= m else 0
        fps = float(row["fps_t"])
        t0 = row["start_s"] + start / fps
        size = self.spec.buckets[row["bucket"]]
        from omni.datamodules.remote import local_path

        path = local_path(row["path"])
        frames = ds._frames(path, row, row["start_s"] + (start - m) / fps, m + n, size)[None]
        ref_frame = ds._frames(path, row, row["start_s"] + ref / fps, 1, size)[None]
        encode = self.encode or (lambda x: x)
        entry = {
            "latent": encode(frames[:, :, m:])[0].float(),
            "ref_latent": encode(ref_frame)[0].float(),
        }
        if m:
            entry["motion_latent"] = encode(frames[:, :, :m])[0].float()
        eligible = self.table.eligible[clip]
        entry["audio"] = ds._audio(path, row, t0, bool(eligible[CONDITIONS.index("audio")]))
        if row.get("keypoints"):
            from omni.datamodules.pose import window_keypoints

            kp = window_keypoints(row, t0, self.spec.num_frames, size)
            entry["kp_xy"] = torch.from_numpy(kp.xy)
            entry["kp_conf"] = torch.from_numpy(kp.conf)
        return float(t0), start, entry


@lru_cache(maxsize=8)
def _open_shard(path: str):
    return safe_open(path, "pt")


class CachedWindow(NamedTuple):
    """Where one cached window of a clip is, and what it holds."""

    shard: int
    slot: int
    t0: float
    start: int
    motion: bool


class CachedClipDataset(Dataset):
    """Samples from a cache folder, with the same random draws as `ClipDataset`.

    A training sample at epoch e reads its clip's window e mod `windows_per_clip` (the next
    cached one if that window failed); a validation sample reads the fixed window. Clips whose
    every window failed are left out of `groups` (see `usable`). With `motion_prob` > 0 samples
    carry `motion_latent` (zeros where they have no motion frames) and `motion_active`, as
    `ClipDataset` carries `motion`.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike,
        table: ClipTable,
        spec: SampleSpec,
        ratios: ConditionRatios,
        seed: int = 0,
        train: bool = True,
        cfg_drop: GuidanceDrop | None = None,
    ) -> None:
        self.dir = Path(cache_dir)
        self.table, self.spec, self.ratios = table, spec, ratios
        self.seed, self.train, self.cfg_drop = seed, train, cfg_drop
        self.windows_per_clip = int(check_version(self.dir)["windows_per_clip"])
        index = pd.read_parquet(self.dir / "index.parquet")
        ok = index[index["error"].isna()]
        self.windows: dict[int, dict[int, CachedWindow]] = {}
        for r in ok.itertuples():
            window = CachedWindow(
                int(r.shard), int(r.slot), float(r.t0), int(r.start), bool(r.motion)
            )
            self.windows.setdefault(int(r.clip), {})[int(r.window)] = window
        self.failed = index[index["error"].notna()]
        self._rows = table.df.to_dict("records")
        self._load = np.array([name in spec.load for name in CONDITIONS])

    def usable(self) -> np.ndarray:
        """(N,) bool: clips with at least one cached window."""
        return np.array([i in self.windows for i in range(len(self.table))])

    def __len__(self) -> int:
        return len(self.table)

    def window(self, index: int, epoch: int) -> CachedWindow:
        """The cached window clip `index` is read from at `epoch`."""
        windows = self.windows[index]
        if not self.train:
            return windows[min(windows)]
        first = epoch % self.windows_per_clip
        return next(
            windows[w % self.windows_per_clip]
            for w in range(first, first + self.windows_per_clip)
            if w % self.windows_per_clip in windows
        )

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        epoch_key = epoch if self.train else VAL_EPOCH
        row = self._rows[index]
        rng = sample_rng(self.seed, epoch_key, index)
        if self.train:  # ClipDataset's window draw, so the draws after it are its own
            choose_window(row["n_frames"], self.spec.num_frames, rng)
        window = self.window(index, epoch)
        f = _open_shard(str(self.dir / f"shard-{window.shard:05d}.safetensors"))
        eligible = self.table.eligible[index] & self._load
        active, dropped = draw_sample_conditions(self, eligible, rng)
        motion = draw_motion(self, window.start, rng) and window.motion
        latent = f.get_tensor(f"{window.slot}.latent")
        sample = {
            "latent": latent,
            "ref_latent": f.get_tensor(f"{window.slot}.ref_latent"),
            "caption": row["caption"] if active[0] else "",
            "active": torch.from_numpy(active),
            "eligible": torch.from_numpy(eligible),
            "key": sample_key(self.seed, epoch_key, index),
            "clip_id": row["clip_id"],
            "path": row["path"],
            "t0": window.t0,
            "fps": float(row["fps_t"]),
            "skipped": [],
        }
        if self.train and self.cfg_drop is not None:
            sample["cfg_dropped"] = torch.from_numpy(dropped)
        if self.spec.motion_prob > 0:  # zeros where the sample has none, so batches stack
            c, _, h, w = latent.shape
            sample["motion_latent"] = (
                f.get_tensor(f"{window.slot}.motion_latent")
                if motion
                else torch.zeros(c, self._motion_latent_frames, h, w)
            )
            sample["motion_active"] = motion
        if "audio" in self.spec.load:
            sample["audio"] = f.get_tensor(f"{window.slot}.audio")
        if "pose" in self.spec.load:
            sample["pose"] = self._pose(f, window.slot, row, bool(active[3]))
        return sample

    @cached_property
    def _motion_latent_frames(self) -> int:
        """Latent frames of the cached motion frames (0 when no window has them)."""
        for windows in self.windows.values():
            for w in windows.values():
                if w.motion:
                    f = _open_shard(str(self.dir / f"shard-{w.shard:05d}.safetensors"))
                    return int(f.get_slice(f"{w.slot}.motion_latent").get_shape()[1])
        return 0

    def _pose(self, f, slot: int, row: dict, active: bool) -> torch.Tensor:
        from omni.datamodules.pose import NUM_CHANNELS
        from omni.pose import Keypoints, render_heatmaps

        size = self.spec.buckets[row["bucket"]]
        if not active:
            return torch.zeros(NUM_CHANNELS, self.spec.num_frames, *size)
        kp = Keypoints(
            f.get_tensor(f"{slot}.kp_xy").numpy(), f.get_tensor(f"{slot}.kp_conf").numpy()
        )
        return torch.from_numpy(render_heatmaps(kp, size[0], size[1], self.spec.pose_sigma))
