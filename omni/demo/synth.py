"""The built-in synthetic world: seeded talking people with speech, captions and ground truth.

Three kinds of clip, all square frames of `size` pixels:
- `face`: a drawn cartoon head and shoulders (mediapipe's face mesh finds it) talking;
- `portrait`: scikit-image's astronaut photo, its mouth warped open by the audio (train split only:
  there is one real face);
- `body`: a drawn figure, framed half-body, gesturing with its arms by a seeded motion, also talking.
Every clip's speech is synthetic (`omni.demo.speech`); its envelope, averaged over each frame,
*is* the mouth opening of that frame. Identities (skin, hair, eye and shirt colours, face size,
background) and audio are drawn from seeds, and the held-out split has identities and audio the
train split never saw. Ground truth lives beside the videos (`truth/<clip>.npz`, reference images
`refs/<identity>.png`, speech `audio/<audio>.wav`) and is named by manifest columns.

`make_demo_dataset(out_dir, ...)` writes it all and returns the train manifest; re-running with
the same arguments reuses the files, and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from omni.demo import body
from omni.demo.speech import Speech, Voice, frame_mean, synthesize
from omni.demo.world import (
    KINDS,
    Identity,
    Truth,
    atomic_write,
    caption,
    load_truth,
    make_identity,
    reference_image,
    render_clip,
)
from omni.manifest import STATUS_OK, register_columns, write_manifest
from omni.pose import NUM_BODY, NUM_KEYPOINTS, Keypoints, save_keypoints

__all__ = [
    "KINDS",
    "Identity",
    "Truth",
    "cache_root",
    "demo_dataset",
    "frame_envelope",
    "load_truth",
    "make_demo_dataset",
]

SYNTH_VERSION = 4  # 4: half-body figures with big heads, bigger faces and mouths
COLUMN_PREFIX = "synth_"  # the generator's own columns (registered below on import)
SPLITS = ("train", "heldout")
DEFAULT_MIX = {"face": 0.6, "portrait": 0.15, "body": 0.25}

register_columns(
    pa.field("synth_version", pa.int64()),
    pa.field("synth_split", pa.string()),
    pa.field("synth_kind", pa.string()),
    pa.field("synth_identity", pa.string()),
    pa.field("synth_audio_id", pa.string()),
    pa.field("synth_pose_id", pa.string()),
    pa.field("synth_reference", pa.string()),
    pa.field("synth_audio", pa.string()),
    pa.field("synth_truth", pa.string()),
    # the datamodule's pose side files (omni.pose format); `curate score` rewrites it when it runs
    pa.field("keypoints_path", pa.string()),
)

# The dataset


@dataclass(frozen=True)
class ClipPlan:
    """Everything that determines one clip (all derived from the dataset seed)."""

    clip_id: str
    split: str
    kind: str
    identity_index: int
    audio_index: int
    pose_index: int | None


def plan(n_clips: int, held_out: int, seed: int, mix: dict[str, float], clips_per_identity: int):
    """The clips of both splits. Held-out clips use new identities (no portraits) and new audio."""
    clips: list[ClipPlan] = []
    for split, count in (("train", n_clips - held_out), ("heldout", held_out)):
        weights = {k: v for k, v in mix.items() if split == "train" or k != "portrait"}
        kinds = _spread(count, weights)
        per_identity = clips_per_identity if split == "train" else 1
        seen: dict[str, int] = {}
        for i, kind in enumerate(kinds):
            j = seen.get(kind, 0)
            seen[kind] = j + 1
            identity_index = j // per_identity if kind != "portrait" else j % 4
            clips.append(
                ClipPlan(
                    clip_id=f"{split}-{i:04d}-{kind}",
                    split=split,
                    kind=kind,
                    identity_index=identity_index,
                    audio_index=i,
                    pose_index=i if kind == "body" else None,
                )
            )
    return clips


def _spread(count: int, weights: dict[str, float]) -> list[str]:
    """`count` kinds in proportion to `weights` (largest remainder), interleaved."""
    total = sum(weights.values())
    exact = {k: count * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: counts[k] - exact[k])[: count - sum(counts.values())]:
        counts[k] += 1
    order = sorted(
        ((j + 0.5) / n, k) for k, n in counts.items() for j in range(n)
    )  # evenly spaced positions per kind
    return [k for _, k in order]


def _rng(seed: int, split: str, stream: str, index: int) -> np.random.Generator:
    """An independent generator per (seed, split, what, index): clips render in any order."""
    key = [seed, SPLITS.index(split), ["identity", "audio", "pose", "motion"].index(stream), index]
    return np.random.default_rng(key)


def _identity(seed: int, clip: ClipPlan) -> Identity:
    identity_id = f"{clip.split}-{clip.kind}-{clip.identity_index:03d}"
    kind_offset = KINDS.index(clip.kind) * 100_000
    return make_identity(
        identity_id,
        clip.kind,
        _rng(seed, clip.split, "identity", kind_offset + clip.identity_index),
    )


def _voice(rng: np.random.Generator) -> Voice:
    return Voice(
        f0=float(rng.choice([rng.uniform(95, 135), rng.uniform(170, 235)])),
        intonation=float(rng.uniform(0.08, 0.2)),
    )


@dataclass(frozen=True)
class DemoSpec:
    """The arguments that determine a demo dataset (stored as spec.json beside it)."""

    n_clips: int
    seconds: float
    size: int
    fps: float
    seed: int
    held_out: int
    sr: int
    mix: tuple[tuple[str, float], ...]
    clips_per_identity: int
    version: int = SYNTH_VERSION
    head_motion: float = 1.0

    def to_json(self) -> str:
        data = asdict(self)
        if data["head_motion"] == 1.0:  # the default: the same spec.json as before it existed
            del data["head_motion"]
        return json.dumps(data, sort_keys=True)

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


def make_demo_dataset(
    out_dir: str | os.PathLike,
    n_clips: int = 24,
    seconds: float = 4.0,
    size: int = 128,
    fps: float = 25.0,
    seed: int = 0,
    held_out: int | float = 0.25,
    sr: int = 16000,
    mix: dict[str, float] | None = None,
    clips_per_identity: int = 2,
    progress: bool = True,
    head_motion: float = 1.0,
) -> Path:
    """Write the synthetic dataset into `out_dir` and return its train manifest path.

    `held_out` is a number of clips (int) or a fraction of `n_clips` (float) kept in
    `heldout.parquet` with identities and audio the train split never saw. Also written:
    `all.parquet` (both splits, `synth_split` tells which), `videos/`, `audio/`, `refs/`,
    `truth/`, `spec.json`. Cached: the same arguments reuse the files; a folder made with other
    arguments is an error (pick another folder). `head_motion` scales every clip's head motion
    (0: heads stay put; `omni demo` uses a small value so its tiny model can learn the mouth).
    """
    spec = _spec(
        n_clips, seconds, size, fps, seed, held_out, sr, mix, clips_per_identity, head_motion
    )
    out = Path(out_dir)
    train_path = out / "train.parquet"
    spec_path = out / "spec.json"
    if spec_path.exists():
        existing = spec_path.read_text()
        if existing != spec.to_json():
            raise ValueError(
                f"{out} already holds a demo dataset made with {existing}; asked for "
                f"{spec.to_json()}. Use another folder (or delete this one)."
            )
        if all((out / f"{s}.parquet").exists() for s in ("train", "heldout", "all")):
            return train_path
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(spec_path, lambda tmp: Path(tmp).write_text(spec.to_json()))
    clips = plan(n_clips, spec.held_out, seed, dict(spec.mix), clips_per_identity)
    rows = []
    for clip in _progress(clips, progress, f"synthesising {len(clips)} demo clips"):
        rows.append(_write_clip(out, spec, clip))
    df = pd.DataFrame(rows)
    write_manifest(df, out / "all.parquet")
    write_manifest(df[df.synth_split == "heldout"].reset_index(drop=True), out / "heldout.parquet")
    write_manifest(df[df.synth_split == "train"].reset_index(drop=True), train_path)
    return train_path


def cache_root() -> Path:
    """Where `demo_dataset` keeps datasets: $OMNI_CACHE/demo, else ~/.cache/omni/demo."""
    base = os.environ.get("OMNI_CACHE") or Path.home() / ".cache" / "omni"
    return Path(base) / "demo"


def demo_dataset(root: str | os.PathLike | None = None, **kwargs) -> Path:
    """The built-in demo data with `make_demo_dataset`'s `kwargs`, made once and then reused.

    Each set of arguments gets its own folder `<root>/<digest of the arguments>` (root defaults to
    `cache_root()`), so callers never clash. Returns the train manifest; `heldout.parquet` and
    `all.parquet` sit beside it.
    """
    defaults = dict(
        n_clips=24,
        seconds=4.0,
        size=128,
        fps=25.0,
        seed=0,
        held_out=0.25,
        sr=16000,
        mix=None,
        clips_per_identity=2,
        head_motion=1.0,
    )
    unknown = set(kwargs) - set(defaults) - {"progress"}
    if unknown:
        raise ValueError(
            f"unknown demo dataset options {sorted(unknown)}; expected {sorted(defaults)}"
        )
    args = {**defaults, **{k: v for k, v in kwargs.items() if k != "progress"}}
    spec = _spec(**args)
    folder = Path(root) if root is not None else cache_root()
    return make_demo_dataset(folder / spec.digest(), **args, progress=kwargs.get("progress", True))


def _spec(
    n_clips, seconds, size, fps, seed, held_out, sr, mix, clips_per_identity, head_motion=1.0
) -> DemoSpec:
    if isinstance(held_out, float) and not isinstance(held_out, bool):
        if not 0 <= held_out < 1:
            raise ValueError(f"held_out as a fraction must be in [0, 1), got {held_out}")
        held_out = round(n_clips * held_out)
    if n_clips < 1 or not 0 <= held_out < n_clips:
        raise ValueError(
            f"need n_clips >= 1 and 0 <= held_out < n_clips, got {n_clips}, {held_out}"
        )
    if size < 32 or size % 2:
        raise ValueError(f"size must be an even number of pixels >= 32, got {size}")
    if seconds <= 0 or fps <= 0:
        raise ValueError(f"seconds and fps must be positive, got {seconds}, {fps}")
    if not head_motion >= 0:
        raise ValueError(f"head_motion must be a scale >= 0, got {head_motion}")
    mix = dict(DEFAULT_MIX if mix is None else mix)
    unknown = set(mix) - set(KINDS)
    if unknown or not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
        raise ValueError(f"mix must map kinds {KINDS} to non-negative weights, got {mix}")
    if held_out and not any(w > 0 for k, w in mix.items() if k != "portrait"):
        raise ValueError("held-out clips need 'face' or 'body' in mix (portraits are train only)")
    return DemoSpec(
        n_clips,
        float(seconds),
        int(size),
        float(fps),
        int(seed),
        int(held_out),
        int(sr),
        tuple(sorted((k, float(v)) for k, v in mix.items() if v > 0)),
        int(clips_per_identity),
        head_motion=float(head_motion),
    )


def _write_clip(out: Path, spec: DemoSpec, clip: ClipPlan) -> dict:
    """Render and write one clip's files (skipping those already there) and return its row."""
    from omni.media import write_video

    identity = _identity(spec.seed, clip)
    audio_id = f"{clip.split}-audio-{clip.audio_index:04d}"
    pose_id = None if clip.pose_index is None else f"{clip.split}-pose-{clip.pose_index:04d}"
    paths = {
        "video": f"videos/{clip.clip_id}.mp4",
        "truth": f"truth/{clip.clip_id}.npz",
        "audio": f"audio/{audio_id}.wav",
        "ref": f"refs/{identity.identity_id}.png",
    }
    if clip.kind == "body":
        paths["keypoints"] = f"keypoints/{clip.clip_id}.npz"
    num_frames = round(spec.seconds * spec.fps)
    if not all((out / p).exists() for p in paths.values()):
        frames, truth, speech = _render(spec, clip, num_frames)
        meta = {"comment": f"omni synthetic demo clip {clip.clip_id}"}
        write_video(out / paths["video"], frames, spec.fps, speech.wave, spec.sr, metadata=meta)
        truth.save(out / paths["truth"])
        if "keypoints" in paths:
            save_keypoints(out / paths["keypoints"], truth_keypoints(truth), truth.times)
        _write_wav(out / paths["audio"], speech.wave, spec.sr)
        if not (out / paths["ref"]).exists():
            _write_png(out / paths["ref"], reference_image(identity, spec.size))
    return {
        "clip_id": clip.clip_id,
        "source": paths["video"],
        "start_s": 0.0,
        "end_s": num_frames / spec.fps,
        "fps": spec.fps,
        "num_frames": num_frames,
        "width": spec.size,
        "height": spec.size,
        "has_audio": True,
        "audio_sr": spec.sr,
        "rotation": 0,
        "caption": caption(identity),
        "status": STATUS_OK,
        "error": None,
        "eligible_text_ref": True,
        "eligible_audio": clip.kind in ("face", "portrait"),
        "eligible_pose": clip.kind == "body",
        "reject_reason": None,
        "synth_version": SYNTH_VERSION,
        "synth_split": clip.split,
        "synth_kind": clip.kind,
        "synth_identity": identity.identity_id,
        "synth_audio_id": audio_id,
        "synth_pose_id": pose_id,
        "synth_reference": paths["ref"],
        "synth_audio": paths["audio"],
        "synth_truth": paths["truth"],
        "keypoints_path": paths.get("keypoints"),
    }


def truth_keypoints(truth: Truth) -> Keypoints:
    """A body clip's exact keypoints in omni.pose's layout (body joints sure, hands missing)."""
    t = len(truth.keypoints)
    xy = np.full((t, NUM_KEYPOINTS, 2), np.nan, np.float32)
    xy[:, :NUM_BODY] = truth.keypoints
    conf = np.zeros((t, NUM_KEYPOINTS), np.float32)
    conf[:, :NUM_BODY] = np.isfinite(truth.keypoints).all(-1)
    return Keypoints(xy, conf)


def frame_envelope(wave: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
    """RMS of `wave` over each video frame's interval: what a scorer measures, (T,) float32."""
    return np.sqrt(frame_mean(np.asarray(wave, np.float64) ** 2, sr, fps, num_frames))


def _write_wav(path: Path, wave: np.ndarray, sr: int) -> None:
    import soundfile as sf

    atomic_write(path, lambda tmp: sf.write(tmp, wave, sr, subtype="PCM_16", format="WAV"), ".wav")


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    atomic_write(path, lambda tmp: cv2.imwrite(tmp, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)), ".png")


def _progress(items: list, enabled: bool, label: str):
    if not enabled:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label, total=len(items))


def render_counterfactual(
    data_dir: str | os.PathLike,
    clip_id: str,
    audio_from: str | None = None,
    pose_from: str | None = None,
    num_frames: int | None = None,
) -> np.ndarray:
    """Frames (T, size, size, 3) uint8 of clip `clip_id` of the dataset in `data_dir`, re-rendered
    with the speech (so the mouth) of clip `audio_from` and/or the body motion of clip `pose_from`;
    everything else (identity, blinks, own speech or motion) as in the clip. With neither, the
    clip's own frames. The truth a generator driven by those conditions should produce."""
    data_dir = Path(data_dir)
    data = json.loads((data_dir / "spec.json").read_text())
    if data.get("version") != SYNTH_VERSION:
        raise ValueError(f"{data_dir}: synth version {data.get('version')}, need {SYNTH_VERSION}")
    spec = DemoSpec(**{**data, "mix": tuple(map(tuple, data["mix"]))})
    planned = plan(spec.n_clips, spec.held_out, spec.seed, dict(spec.mix), spec.clips_per_identity)
    clips = {c.clip_id: c for c in planned}
    n = num_frames or round(spec.seconds * spec.fps)
    speaker = clips[audio_from] if audio_from else None
    mover = clips[pose_from] if pose_from else None
    return _render(spec, clips[clip_id], n, speaker, mover)[0]


def _render(
    spec: DemoSpec,
    clip: ClipPlan,
    num_frames: int,
    speaker: ClipPlan | None = None,
    mover: ClipPlan | None = None,
) -> tuple[np.ndarray, Truth, Speech]:
    """(frames, truth, speech) of `clip`, with the speech of clip `speaker` and the body motion of
    clip `mover` (default: the clip's own); identity, blinks and head motion are the clip's."""
    speaker, mover = speaker or clip, mover or clip
    audio_rng = _rng(spec.seed, speaker.split, "audio", speaker.audio_index)
    speech = synthesize(audio_rng, spec.seconds, _voice(audio_rng), spec.sr)
    motion = None
    if mover.pose_index is not None and clip.kind == "body":
        motion = body.Motion.sample(_rng(spec.seed, mover.split, "pose", mover.pose_index))
    frames, truth = render_clip(
        _identity(spec.seed, clip), speech, motion,
        _rng(spec.seed, clip.split, "motion", clip.audio_index), num_frames, spec.fps, spec.size,
        head_scale=spec.head_motion,
    )  # fmt: skip
    return frames, truth, speech
