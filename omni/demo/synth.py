"""The built-in synthetic world: seeded talking people with speech, captions and ground truth.

Three kinds of clip, all square frames of `size` pixels:
- `face`: a drawn cartoon head and shoulders (mediapipe's face mesh finds it) talking;
- `portrait`: scikit-image's astronaut photo, its mouth warped open by the audio (train split only:
  there is one real face);
- `body`: a drawn full-body figure moving its arms and legs by a seeded motion, also talking.
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
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from omni.demo import body, portrait
from omni.demo.draw import Canvas, Pose2D
from omni.demo.face import FaceState, Look, draw_head
from omni.demo.speech import Speech, Voice, frame_mean, synthesize
from omni.manifest import STATUS_OK, register_columns, write_manifest

SYNTH_VERSION = 1
KINDS = ("face", "portrait", "body")
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
)

# Named colours, so that captions say what is drawn.
SKIN = {
    "pale": (247, 214, 190),
    "light": (236, 188, 158),
    "tan": (212, 160, 118),
    "brown": (160, 106, 72),
    "dark": (100, 66, 46),
}
HAIR = {
    "black": (28, 24, 24),
    "brown": (96, 58, 34),
    "blond": (224, 188, 112),
    "red": (168, 66, 30),
    "grey": (168, 168, 172),
}
SHIRT = {
    "red": (200, 48, 48),
    "blue": (44, 100, 200),
    "green": (46, 150, 70),
    "yellow": (232, 196, 40),
    "purple": (120, 60, 160),
    "orange": (236, 128, 36),
    "white": (236, 236, 236),
    "teal": (30, 140, 140),
}
BACKDROP = {
    "sky blue": (120, 170, 220),
    "mint": (160, 210, 180),
    "grey": (150, 150, 155),
    "beige": (220, 200, 160),
    "pink": (230, 170, 190),
    "lilac": (190, 170, 220),
}
TROUSERS = {
    "dark blue": (40, 46, 80),
    "black": (30, 30, 34),
    "brown": (100, 70, 46),
    "grey": (110, 110, 116),
}
EYES = [(70, 110, 160), (90, 60, 40), (60, 120, 80), (50, 40, 35)]


@dataclass(frozen=True)
class Identity:
    """One synthetic person: how they are drawn and what a caption says about them."""

    identity_id: str
    kind: str
    look: Look
    outfit: body.Outfit
    backdrop: tuple[int, int, int]
    face_scale: float  # face half-width / frame size (face), or figure height / frame (body)
    framing: portrait.Framing | None = None
    names: dict[str, str] = field(default_factory=dict)  # colour names for the caption


def _pick(rng: np.random.Generator, table: dict) -> tuple[str, tuple[int, int, int]]:
    name = list(table)[int(rng.integers(len(table)))]
    jitter = rng.integers(-8, 9, 3)
    return name, tuple(int(v) for v in np.clip(np.array(table[name]) + jitter, 0, 255))


def make_identity(identity_id: str, kind: str, rng: np.random.Generator) -> Identity:
    """A new identity of `kind`, drawn from `rng` (colours jittered, so no two are equal)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    skin_name, skin = _pick(rng, SKIN)
    hair_name, hair = _pick(rng, HAIR)
    shirt_name, shirt = _pick(rng, SHIRT)
    backdrop_name, backdrop = _pick(rng, BACKDROP)
    trousers_name, trousers = _pick(rng, TROUSERS)
    style = ["short", "long", "bald"][int(rng.choice(3, p=[0.45, 0.4, 0.15]))]
    lips = tuple(int(v) for v in np.clip(0.55 * np.array(skin) + [95, 20, 30], 0, 255))
    look = Look(
        skin=skin,
        hair=hair,
        eyes=EYES[int(rng.integers(len(EYES)))],
        lips=lips,
        hair_style=style,
        aspect=float(rng.uniform(1.2, 1.4)),
    )
    outfit = body.Outfit(shirt=shirt, trousers=trousers, shoes=(35, 28, 26))
    names = {
        "skin": skin_name,
        "hair": hair_name,
        "style": style,
        "shirt": shirt_name,
        "backdrop": backdrop_name,
        "trousers": trousers_name,
    }
    framing = None
    if kind == "portrait":
        framing = portrait.Framing(
            face_fraction=float(rng.uniform(0.38, 0.5)),
            mirror=bool(rng.integers(2)),
            gain=tuple(float(g) for g in rng.uniform(0.9, 1.1, 3)),
        )
    scale = float(rng.uniform(0.17, 0.23) if kind == "face" else rng.uniform(0.8, 0.9))
    return Identity(identity_id, kind, look, outfit, backdrop, scale, framing, names)


def caption(identity: Identity) -> str:
    """One sentence describing the clip, built only from what was drawn."""
    n = identity.names
    hair = "a bald head" if n["style"] == "bald" else f"{n['style']} {n['hair']} hair"
    if identity.kind == "portrait":
        return "A smiling astronaut with short light brown hair, in an orange spacesuit, talks to the camera."
    if identity.kind == "face":
        return (
            f"A cartoon person with {n['skin']} skin, {hair} and a {n['shirt']} shirt talks "
            f"to the camera in front of a {n['backdrop']} wall."
        )
    return (
        f"A full-body cartoon person with {n['skin']} skin, {hair}, a {n['shirt']} shirt and "
        f"{n['trousers']} trousers moves their arms while talking, in front of a {n['backdrop']} wall."
    )


@dataclass
class Truth:
    """Per-frame ground truth of one clip (what drove the picture)."""

    mouth: np.ndarray  # (T,) lip opening in [0, 1] = speech envelope averaged over the frame
    rounding: np.ndarray  # (T,) lip rounding in [0, 1]
    head: np.ndarray  # (T, 3) head angle (rad), shift x, shift y (fractions of the frame)
    blink: np.ndarray  # (T,) eyelid closure in [0, 1]
    keypoints: (
        np.ndarray
    )  # (T, 33, 2) true body keypoints in [0, 1], mediapipe pose order; NaN if none
    times: np.ndarray  # (T,) frame times in seconds

    def save(self, path: Path) -> None:
        _atomic(path, lambda tmp: np.savez_compressed(tmp, **asdict(self)), suffix=".npz")


def load_truth(path: str | os.PathLike) -> Truth:
    """Read a clip's `truth/<clip>.npz` written by `make_demo_dataset`."""
    with np.load(path) as data:
        return Truth(**{k: data[k] for k in Truth.__dataclass_fields__})


def head_motion(rng: np.random.Generator, times: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """(T, 3) smooth head angle and shift: a few slow sinusoids plus a small nod with speech."""
    freqs = rng.uniform(0.15, 0.7, (3, 2))
    phases = rng.uniform(0, 2 * np.pi, (3, 2))
    amps = np.array([0.06, 0.02, 0.015])[:, None] * rng.uniform(0.4, 1.0, (3, 2))
    waves = (
        amps[None] * np.sin(2 * np.pi * freqs[None] * times[:, None, None] + phases[None])
    ).sum(-1)
    waves[:, 2] += 0.012 * mouth  # the head dips slightly on loud syllables
    return waves


def blinks(rng: np.random.Generator, times: np.ndarray, fps: float) -> np.ndarray:
    """(T,) eyelid closure with a blink (closing and opening over ~0.16 s) every 2-5 s."""
    out = np.zeros(len(times))
    t = rng.uniform(0.5, 2.5)
    half = 0.08
    while t < times[-1] + half:
        out = np.maximum(out, np.clip(1 - np.abs(times - t) / half, 0, 1))
        t += rng.uniform(2.0, 5.0)
    return out


def render_clip(
    identity: Identity,
    speech: Speech,
    motion: body.Motion | None,
    rng: np.random.Generator,
    num_frames: int,
    fps: float,
    size: int,
) -> tuple[np.ndarray, Truth]:
    """Frames (T, size, size, 3) uint8 and their ground truth; deterministic for `rng`'s state."""
    times = np.arange(num_frames) / fps
    mouth, rounding = speech.per_frame(fps, num_frames)
    mouth = np.clip(mouth, 0.0, 1.0)
    head = head_motion(rng, times, mouth)
    blink = blinks(rng, times, fps)
    keypoints = np.full((num_frames, 33, 2), np.nan)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for k in range(num_frames):
        face = FaceState(float(mouth[k]), float(rounding[k]), float(blink[k]))
        angles = motion.angles(times[k]) if motion is not None else REST_ANGLES
        sway = motion.sway * np.sin(2 * np.pi * 0.2 * times[k]) if motion is not None else 0.0
        frames[k], keypoints[k] = render_frame(identity, face, head[k], angles, sway, size)
    return frames, Truth(mouth, rounding, head, blink, keypoints, times)


REST_ANGLES = np.array([0.3, 0.3, 0.2, 0.2, 0.08, 0.08, 0.0])  # arms a little out, legs apart


def render_frame(
    identity: Identity,
    face: FaceState,
    head: np.ndarray,
    angles: np.ndarray,
    sway: float,
    size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One frame (size, size, 3) uint8 and its body keypoints (33, 2) in [0, 1] (NaN if no body).

    `head` is (angle, shift x, shift y); `angles` and `sway` (body units) pose a body figure.
    """
    keypoints = np.full((33, 2), np.nan)
    if identity.kind == "portrait":
        return portrait.render(identity.framing, size, face.opening, head[0], head[1:]), keypoints
    canvas = _backdrop(identity.backdrop, size)
    if identity.kind == "face":
        _draw_portrait(canvas, identity, face, head, size)
    else:
        keypoints = _draw_figure(canvas, identity, face, angles, sway, head, size) / size
    return canvas.image, keypoints


def _backdrop(color: tuple[int, int, int], size: int) -> Canvas:
    """A wall with a soft vertical gradient (lighter at the top)."""
    shade = np.linspace(1.08, 0.85, size)[:, None, None]
    image = np.clip(np.array(color)[None, None] * shade, 0, 255)
    return Canvas(size, size, np.broadcast_to(image, (size, size, 3)))


def _draw_portrait(canvas: Canvas, identity: Identity, face: FaceState, head, size: int) -> None:
    scale = identity.face_scale * size
    centre_x, centre_y = size / 2, size * 0.44
    shoulders = Pose2D(scale, 0.0, centre_x, centre_y)
    canvas.fill(
        np.array([[-2.6, 1.75], [2.6, 1.75], [3.4, 6.0], [-3.4, 6.0]]),
        identity.outfit.shirt,
        shoulders,
    )
    neck = np.array([[-0.42, 0.8], [0.42, 0.8], [0.46, 1.95], [-0.46, 1.95]])
    canvas.fill(neck, tuple(int(c * 0.9) for c in identity.look.skin), shoulders)
    angle, dx, dy = head
    draw_head(
        canvas,
        identity.look,
        face,
        Pose2D(scale, angle, centre_x + dx * size, centre_y + dy * size),
    )


def _draw_figure(canvas, identity, face, angles, sway, head, size) -> np.ndarray:
    unit = identity.face_scale * size / (body.TOP + body.BOTTOM)
    top = (size - (body.TOP + body.BOTTOM) * unit) / 2
    pose = Pose2D(unit, 0.0, size / 2 + sway * unit, top + body.TOP * unit)
    joints = body.skeleton(angles)
    body.draw_body(canvas, joints, identity.look, identity.outfit, face, pose, head_turn=head[0])
    return body.keypoints(joints, pose, head_turn=head[0])


def reference_image(identity: Identity, size: int) -> np.ndarray:
    """The identity at rest (mouth closed, head straight, arms down): its reference picture."""
    image, _ = render_frame(identity, FaceState(0.0), np.zeros(3), REST_ANGLES, 0.0, size)
    return image


# ---------------------------------------------------------------------------------------------
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

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

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
) -> Path:
    """Write the synthetic dataset into `out_dir` and return its train manifest path.

    `held_out` is a number of clips (int) or a fraction of `n_clips` (float) kept in
    `heldout.parquet` with identities and audio the train split never saw. Also written:
    `all.parquet` (both splits, `synth_split` tells which), `videos/`, `audio/`, `refs/`,
    `truth/`, `spec.json`. Cached: the same arguments reuse the files; a folder made with other
    arguments is an error (pick another folder).
    """
    spec = _spec(n_clips, seconds, size, fps, seed, held_out, sr, mix, clips_per_identity)
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
    _atomic(spec_path, lambda tmp: Path(tmp).write_text(spec.to_json()))
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


def _spec(n_clips, seconds, size, fps, seed, held_out, sr, mix, clips_per_identity) -> DemoSpec:
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
    num_frames = round(spec.seconds * spec.fps)
    if not all((out / p).exists() for p in paths.values()):
        audio_rng = _rng(spec.seed, clip.split, "audio", clip.audio_index)
        speech = synthesize(audio_rng, spec.seconds, _voice(audio_rng), spec.sr)
        motion = None
        if clip.pose_index is not None:
            motion = body.Motion.sample(_rng(spec.seed, clip.split, "pose", clip.pose_index))
        motion_rng = _rng(spec.seed, clip.split, "motion", clip.audio_index)
        frames, truth = render_clip(
            identity, speech, motion, motion_rng, num_frames, spec.fps, spec.size
        )
        meta = {"comment": f"omni synthetic demo clip {clip.clip_id}"}
        write_video(out / paths["video"], frames, spec.fps, speech.wave, spec.sr, metadata=meta)
        truth.save(out / paths["truth"])
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
    }


def frame_envelope(wave: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
    """RMS of `wave` over each video frame's interval: what a scorer measures, (T,) float32."""
    return np.sqrt(frame_mean(np.asarray(wave, np.float64) ** 2, sr, fps, num_frames))


def _atomic(path: Path, write, suffix: str = "") -> None:
    """Run write(tmp_path) then rename onto `path`, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_wav(path: Path, wave: np.ndarray, sr: int) -> None:
    import soundfile as sf

    _atomic(path, lambda tmp: sf.write(tmp, wave, sr, subtype="PCM_16", format="WAV"), ".wav")


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    _atomic(path, lambda tmp: cv2.imwrite(tmp, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)), ".png")


def _progress(items: list, enabled: bool, label: str):
    if not enabled:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label, total=len(items))
