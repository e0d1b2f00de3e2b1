"""`OmniPipeline`: reference + audio / pose / text -> video frames and audio, in Python.

    pipe = OmniPipeline.from_pretrained("runs/omni-tiny")      # or .from_checkpoint("last.ckpt")
    result = pipe(ref="face.png", audio="speech.wav", text="a man talks", seed=0)
    save_video(result, "out.mp4")                               # + out.drift.json beside it

Conditions follow the paper's rule: the reference and text are always on, audio when given, pose
when given; pose without audio drives by pose alone (audio off). Classifier-free guidance runs on
text and audio through `FlowSampler` (passes batched in one forward, zero-weight passes skipped),
with scales annealed from start to end. Long videos are generated as segments of the model's
frame count, each after the first conditioned on the last 5 output frames (motion frames).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from einops import rearrange
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor

from omni.generate.drift import drift_report
from omni.generate.inputs import (
    DrivingAudio,
    DrivingPose,
    PathLike,
    fit_image,
    fit_pose_length,
    has_face,
    load_audio,
    load_pose,
    load_reference,
)
from omni.generate.segments import Segment, motion_window, plan_segments
from omni.model.conditions import Conditions
from omni.model.omni_model import GenerationDefaults, OmniModel
from omni.model.sampler import FlowSampler, GuidanceScale, GuidanceTerm
from omni.pose import HEATMAP_GROUPS, Keypoints, render_heatmaps

log = logging.getLogger(__name__)

MARK_MIN_SIDE = 128
"""Smallest picture side written with the watermark. omni.provenance marks from 64 px, but at
64-96 px `omni verify` can misread the mark's checkpoint digits (right in 9 of 9 real fixtures from
112 px; docs/benchmarks.md#provenance-watermark), so smaller generations are enlarged to this
before marking."""

ProgressFn = Callable[[int, int, int, int], None]
"""on_progress(segment, segments, forward, forwards_per_segment), called after each forward."""


VideoDefaults = GenerationDefaults
"""Geometry and timing of a generation (fps, segment frames, size, audio rate, pose sigma);
an exported model carries the ones it was trained with in `config.generation`."""


@dataclass
class Guidance:
    """Classifier-free guidance scales on text and audio, annealed from start to end."""

    text: float = 2.0
    """Text scale at the first step (1 = no text guidance)."""
    audio: float = 3.0
    """Audio scale at the first step, relative to the text-conditioned pass (1 = none)."""
    text_end: float | None = 1.0
    """Text scale at the last step (None = text)."""
    audio_end: float | None = 1.0
    """Audio scale at the last step (None = audio)."""
    schedule: Literal["constant", "linear", "cosine"] = "cosine"
    """How scales move from start to end (constant keeps the start scale)."""

    def terms(self, audio_on: bool) -> list[GuidanceTerm]:
        """The sampler's guidance chain: text, then audio if audio drives this generation."""
        terms = [GuidanceTerm("text", GuidanceScale(self.text, self.text_end, self.schedule))]
        if audio_on:
            terms.append(
                GuidanceTerm("audio", GuidanceScale(self.audio, self.audio_end, self.schedule))
            )
        return terms


@dataclass
class GenerationResult:
    """A generated video with its driving audio, and how it was made."""

    frames: np.ndarray
    """(T, H, W, 3) uint8 RGB."""
    fps: float
    audio: np.ndarray | None
    """(N,) float32 driving audio on the video's timeline (N = T / fps * sr), or None."""
    sr: int
    ref: np.ndarray
    """(H, W, 3) uint8: the reference as the model saw it (resized and cropped)."""
    seed: int
    conditions: tuple[str, ...]
    """Active conditions, weakest first (text, ref, audio, pose)."""
    text: str
    segments: list[Segment]
    drift: dict
    """Per-segment mean colour and similarity to the reference (see omni.generate.drift)."""
    warnings: list[str] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    """What drove the video: reference, audio, pose, text (file names or "array")."""
    model_sha256: str | None = None
    """sha256 of the weights file, for the provenance record."""
    settings: dict = field(default_factory=dict)
    """steps, solver, guidance, resolution... as used (recorded in the provenance metadata)."""
    stats: dict = field(default_factory=dict)
    """model forwards, rows evaluated, guidance passes skipped, wall seconds."""

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps


class OmniPipeline:
    """Holds an `OmniModel` (EMA weights) and turns inputs into a `GenerationResult`."""

    def __init__(
        self,
        model: OmniModel,
        defaults: VideoDefaults | None = None,
        source: str | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.defaults = defaults or model.config.generation or VideoDefaults()
        self.source = source
        """The weights file (model.safetensors or a checkpoint), hashed for the provenance record."""
        self._sha256: str | None = None

    @property
    def model_sha256(self) -> str | None:
        """sha256 of the weights file (computed once), None for a model built in memory."""
        if self._sha256 is None and self.source is not None:
            from omni.provenance import file_sha256

            self._sha256 = file_sha256(self.source)
        return self._sha256

    @classmethod
    def from_pretrained(
        cls,
        directory: PathLike,
        defaults: VideoDefaults | None = None,
        device: str | torch.device | None = None,
    ) -> OmniPipeline:
        """Load an OmniModel directory (config.json + model.safetensors, EMA weights); unless
        `defaults` is given, generations use the settings its config was exported with."""
        model = OmniModel.from_pretrained(directory)
        weights = Path(directory) / "model.safetensors"
        return cls(model, defaults, source=str(weights), device=device)

    @classmethod
    def from_checkpoint(
        cls,
        ckpt: PathLike,
        defaults: VideoDefaults | None = None,
        device: str | torch.device | None = None,
    ) -> OmniPipeline:
        """Load an `omni fit` Lightning checkpoint: its EMA weights, and (unless `defaults` is
        given) the fps, window length, resolution and audio rate its data was sampled at."""
        from omni.generate.checkpoint import load_checkpoint, model_from_checkpoint

        loaded = load_checkpoint(ckpt)
        model = model_from_checkpoint(loaded)  # config.generation from the data's settings
        return cls(model, defaults, source=str(ckpt), device=device)

    # --- the call ---------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        ref: PathLike | np.ndarray,
        audio: PathLike | np.ndarray | None = None,
        pose: PathLike | Keypoints | None = None,
        text: str | None = None,
        seconds: float | None = None,
        cfg: Guidance | None = None,
        steps: int = 30,
        seed: int = 0,
        fps: float | None = None,
        resolution: tuple[int, int] | None = None,
        solver: Literal["euler", "heun"] = "euler",
        pose_fit: Literal["hold", "trim"] = "hold",
        audio_sr: int | None = None,
        check_face: bool = True,
        progress: bool = False,
        on_progress: ProgressFn | None = None,
    ) -> GenerationResult:
        """Generate a video of the person in `ref`.

        ref: image file, video file (first frame) or (H, W, 3) uint8 array.
        audio: any audio file / a video with sound, or an (N,) / (C, N) array (then `audio_sr`).
        pose: a driving video, a keypoints .npz, or `Keypoints` at `fps` in output coordinates.
        seconds: output length; default the audio's length, else the pose's, else one segment.
        resolution: (height, width); default the model's training size.
        """
        started = time.perf_counter()
        d = self.defaults
        fps = float(fps or d.fps)
        height, width = resolution or (d.height, d.width)
        self._check_request(height, width, fps, steps)
        cfg = cfg or Guidance()
        warnings: list[str] = []

        # 1. Inputs on the output grid.
        picture = fit_image(load_reference(ref), (height, width))
        if check_face and not has_face(picture):
            warnings.append(
                "no face found in the reference picture: omni animates people, expect poor "
                "results (pass check_face=False / --no-face-check to silence this)"
            )
        driving = self._audio(audio, audio_sr)
        total = self._total_frames(seconds, driving, fps)  # None: as long as the pose
        driving_pose = None
        if pose is not None:
            limit = None if total is None else (total + 1) / fps
            driving_pose = load_pose(pose, fps, (height, width), max_seconds=limit)
            wanted = driving_pose.num_frames if total is None else total
            driving_pose, total, warning = fit_pose_length(driving_pose, wanted, pose_fit)
            if warning:
                warnings.append(warning)
        total = total or d.segment_frames  # nothing sets the length: one segment
        if driving is not None and driving.seconds < total / fps - 0.5 / fps:
            warnings.append(
                f"audio lasts {driving.seconds:.2f} s but {total / fps:.2f} s are generated: "
                "the rest is driven by silence"
            )
        if driving is not None and self.model.mmdit.audio_embed is None:
            warnings.append("this model has no audio path: the audio is muxed but drives nothing")
        for w in warnings:
            log.warning(w)

        # 2. Which conditions drive this video (paper's rule: weaker ones come along).
        audio_on = driving is not None and self.model.mmdit.audio_embed is not None
        pose_on = driving_pose is not None
        conditions = (
            "text",
            "ref",
            *(("audio",) if audio_on else ()),
            *(("pose",) if pose_on else ()),
        )

        # 3. Segments, each sampled with guidance and chained by motion frames.
        segments = plan_segments(total, d.segment_frames)
        sampler = FlowSampler(steps=steps, solver=solver, guidance=cfg.terms(audio_on))
        frames, stats = self._generate(
            picture, driving, driving_pose, text or "", segments, sampler, seed, fps, progress,
            on_progress,
        )  # fmt: skip

        kept = [frames[s.start : s.stop] for s in segments]
        audio_out = None
        if driving is not None:
            n = round(total / fps * driving.sr)
            audio_out = np.pad(driving.wave[:n], (0, max(0, n - len(driving.wave))))
        return GenerationResult(
            frames=frames,
            fps=fps,
            audio=audio_out,
            sr=driving.sr if driving is not None else d.audio_sr,
            ref=picture,
            seed=seed,
            conditions=conditions,
            text=text or "",
            segments=segments,
            drift=drift_report(kept, picture, fps, [s.start for s in segments]),
            warnings=warnings,
            inputs=_describe(ref=ref, audio=audio if audio_on else None, pose=pose, text=text),
            model_sha256=self.model_sha256,
            settings={
                "steps": steps,
                "solver": solver,
                "guidance": {
                    "text": [cfg.text, cfg.text_end],
                    "audio": [cfg.audio, cfg.audio_end] if audio_on else None,
                    "schedule": cfg.schedule,
                },
                "resolution": [height, width],
                "fps": fps,
                "segment_frames": d.segment_frames,
                "pose_fit": pose_fit if pose_on else None,
            },
            stats={**stats, "seconds": round(time.perf_counter() - started, 3)},
        )

    # --- steps of the call ------------------------------------------------------------------

    def _check_request(self, height: int, width: int, fps: float, steps: int) -> None:
        cfg = self.model.config.mmdit
        multiple = cfg.latent_spatial_factor * cfg.patch_size[1]
        if height < multiple or width < multiple or height % multiple or width % multiple:
            raise ValueError(
                f"resolution {width}x{height} is impossible for this model: width and height "
                f"must be positive multiples of {multiple} (VAE factor {cfg.latent_spatial_factor}"
                f" x patch {cfg.patch_size[1]}); e.g. {max(multiple, width // multiple * multiple)}x"
                f"{max(multiple, height // multiple * multiple)}"
            )
        if fps <= 0 or steps < 1:
            raise ValueError(f"expected fps > 0 and steps >= 1, got fps={fps}, steps={steps}")
        r = cfg.latent_temporal_factor
        n = self.defaults.segment_frames
        if n < 1 or (n - 1) % r:
            raise ValueError(f"segment_frames must be 1 + {r}k for this VAE, got {n}")

    def _audio(
        self, audio: PathLike | np.ndarray | None, audio_sr: int | None
    ) -> DrivingAudio | None:
        if audio is None:
            return None
        return load_audio(audio, self.defaults.audio_sr, source_sr=audio_sr)

    def _total_frames(
        self, seconds: float | None, driving: DrivingAudio | None, fps: float
    ) -> int | None:
        """Frames asked for: `seconds`, else the audio's length, else None (the pose decides)."""
        if seconds is not None:
            if seconds <= 0:
                raise ValueError(f"seconds must be > 0, got {seconds}")
            return max(1, round(seconds * fps))
        if driving is not None:
            return max(1, round(driving.seconds * fps))
        return None

    def _generate(
        self,
        picture: np.ndarray,
        driving: DrivingAudio | None,
        pose: DrivingPose | None,
        text: str,
        segments: list[Segment],
        sampler: FlowSampler,
        seed: int,
        fps: float,
        progress: bool,
        on_progress: ProgressFn | None,
    ) -> tuple[np.ndarray, dict[str, int]]:
        """All segments' kept frames (T, H, W, 3) and the sampler's work summed over them."""
        model, dev = self.model, self.device
        planned = segments[-1].start + segments[-1].frames
        base = self._base_conditions(picture, text)
        features = self._audio_features(driving, fps, planned)
        keypoints = self._pose_frames(pose, planned)
        generator = torch.Generator().manual_seed(seed)
        h, w = base.ref.shape[-2:]
        forwards = steps_forwards(sampler)
        stats = {"forwards": 0, "rows": 0, "passes_skipped": 0}
        out: list[np.ndarray] = []
        with _bar(progress) as bar:
            seg_task = bar.add_task("segments", total=len(segments))
            step_task = bar.add_task("steps", total=forwards)
            for seg in segments:
                latent_frames = model.vae.latent_frames(seg.frames)
                cond = self._segment_conditions(base, seg, features, keypoints, out)
                noise = torch.randn(
                    (1, model.config.mmdit.in_channels, latent_frames, h, w), generator=generator
                ).to(dev)
                bar.reset(step_task, total=forwards, description=f"segment {seg.index + 1}")
                calls = 0

                def velocity(x: Tensor, t: Tensor, c: Conditions, seg=seg) -> Tensor:
                    nonlocal calls
                    v = model.velocity(x, t, c)
                    calls += 1
                    bar.advance(step_task)
                    if on_progress is not None:
                        on_progress(seg.index, len(segments), calls, forwards)
                    return v

                latent = sampler.sample(velocity, noise, cond)
                video = model.decode_latent(latent)  # (1, 3, T, H, W) in [-1, 1]
                out.append(_to_frames(video)[: seg.keep])
                for key in stats:
                    stats[key] += getattr(sampler.stats, key)
                bar.advance(seg_task)
        return np.concatenate(out), stats

    def _base_conditions(self, picture: np.ndarray, text: str) -> Conditions:
        """Conditions shared by every segment: the text features and the reference latent."""
        model, dev = self.model, self.device
        encoded = model.encode_text([text])
        ref = model.encode_video(_to_video(picture[None]).to(dev))  # (1, C, 1, h, w)
        guidance = None
        if model.config.mmdit.guidance_embed:
            guidance = torch.full((1,), 6.0, device=dev)  # HunyuanVideo's distilled default
        return Conditions(
            text=encoded.tokens.to(dev),
            text_mask=encoded.mask.to(dev),
            text_pooled=None if encoded.pooled is None else encoded.pooled.to(dev),
            ref=ref,
            guidance=guidance,
        )

    def _audio_features(self, driving: DrivingAudio | None, fps: float, n: int) -> Tensor | None:
        if driving is None or self.model.mmdit.audio_embed is None:
            return None
        feats = self.model.audio_features(driving.wave, driving.sr, fps, n)  # (n, D)
        if feats.shape[0] != n:
            raise ValueError(f"audio features have {feats.shape[0]} frames, expected {n}")
        return torch.from_numpy(np.asarray(feats, np.float32))

    def _pose_frames(self, pose: DrivingPose | None, n: int) -> Keypoints | None:
        if pose is None:
            return None
        k = self.model.config.mmdit.pose_channels
        if k != len(HEATMAP_GROUPS):
            raise ValueError(
                f"this model takes {k} pose channels but omni.pose draws {len(HEATMAP_GROUPS)}; "
                "it was not trained for pose driving (generate without --pose)"
            )
        index = np.minimum(np.arange(n), pose.num_frames - 1)  # the last segment runs past
        return pose.keypoints[index]

    def _segment_conditions(
        self,
        base: Conditions,
        seg: Segment,
        features: Tensor | None,
        keypoints: Keypoints | None,
        done: list[np.ndarray],
    ) -> Conditions:
        dev, d = self.device, self.defaults
        window = slice(seg.start, seg.start + seg.frames)
        active = {"text": True, "ref": True}
        audio = pose = motion = None
        if features is not None:
            audio = features[window][None].to(dev)  # (1, T, D)
            active["audio"] = True
        if keypoints is not None:
            h, w = base.ref.shape[-2] * self._spatial, base.ref.shape[-1] * self._spatial
            maps = render_heatmaps(keypoints[window], h, w, d.pose_sigma)  # (K, T, H, W)
            pose = torch.from_numpy(maps)[None].to(dev)
            active["pose"] = True
        if done:
            previous = np.concatenate(done[-2:])  # enough for 5 frames even after a short one
            m = motion_window(len(previous), self.model.vae.temporal_factor)
            motion = self.model.encode_video(_to_video(previous[-m:]).to(dev))  # (1, C, M', h, w)
            active["motion"] = True
        flags = {k: torch.tensor([v], device=dev) for k, v in active.items()}
        return Conditions(
            text=base.text,
            text_mask=base.text_mask,
            text_pooled=base.text_pooled,
            ref=base.ref,
            motion=motion,
            audio=audio,
            pose=pose,
            guidance=base.guidance,
            active=flags,
        )

    @property
    def _spatial(self) -> int:
        return self.model.config.mmdit.latent_spatial_factor


def _describe(**inputs: object) -> dict[str, str]:
    """Provenance names of the inputs: a file's name, "array"/"keypoints" for in-memory ones."""
    names = {}
    for key, value in inputs.items():
        if value is None:
            continue
        if isinstance(value, str) and key == "text":
            names[key] = value
        elif isinstance(value, (str, os.PathLike)):
            names[key] = Path(value).name
        else:
            names[key] = type(value).__name__.lower().replace("ndarray", "array")
    names["reference"] = names.pop("ref")
    return names


def steps_forwards(sampler: FlowSampler) -> int:
    """Velocity calls one `sample` makes: one per step (Heun: two, except the last step)."""
    return sampler.steps if sampler.solver == "euler" else 2 * sampler.steps - 1


def _to_video(frames: np.ndarray) -> Tensor:
    """(T, H, W, 3) uint8 -> (1, 3, T, H, W) float32 in [-1, 1]."""
    video = torch.from_numpy(np.ascontiguousarray(frames)).float() / 127.5 - 1.0
    return rearrange(video, "t h w c -> 1 c t h w")


def _to_frames(video: Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    pixels = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rearrange(pixels, "c t h w -> t h w c").cpu().numpy()


def _bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )


# --- writing -------------------------------------------------------------------------------------


def drift_path(video: PathLike) -> Path:
    """The drift JSON beside a video: out.mp4 -> out.drift.json."""
    video = Path(video)
    return video.with_name(f"{video.stem}.drift.json")


def save_video(
    result: GenerationResult,
    path: PathLike,
    watermark: bool = True,
    sign_key: PathLike | None = None,
    sign_cert: PathLike | None = None,
) -> Path:
    """Write the video with its driving audio (AAC, in sync) and omni's provenance, and the
    drift JSON beside it.

    Frames get the invisible watermark (unless `watermark=False`, research only, recorded) and the
    container a `ProvenanceRecord` (checkpoint sha256, seed, conditions); with `sign_key` and
    `sign_cert` (PEM) also a signed C2PA manifest. Pictures smaller than the watermark's minimum
    side (`MARK_MIN_SIDE`) are enlarged by a whole factor (nearest neighbour, so every generated pixel becomes a
    block) before marking; the JSON records the factor. The JSON is written first and the video
    last, each atomically, and the JSON is removed again if the video fails: an existing video is
    always complete.
    """
    from omni.provenance import ProvenanceRecord, write_marked_video

    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise ValueError(f"output must be an .mp4 file, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    frames, scale = result.frames, 1
    if watermark and min(frames.shape[1:3]) < MARK_MIN_SIDE:
        scale = -(-MARK_MIN_SIDE // min(frames.shape[1:3]))
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    record = ProvenanceRecord(
        checkpoint_sha256=result.model_sha256,
        seed=result.seed,
        conditions={**result.inputs, "active": "+".join(result.conditions)},
        watermark=watermark,
    )
    side = drift_path(path)
    _write_json(
        side,
        {
            "video": path.name,
            "fps": result.fps,
            "num_frames": len(result.frames),
            "seconds": result.seconds,
            "seed": result.seed,
            "conditions": list(result.conditions),
            "inputs": result.inputs,
            "settings": result.settings,
            "upscaled_for_watermark": scale,
            **result.drift,
        },
    )
    try:
        return write_marked_video(
            path,
            frames,
            result.fps,
            result.audio,
            result.sr,
            record=record,
            sign_key=sign_key,
            sign_cert=sign_cert,
            watermark=watermark,
        )
    except BaseException:
        side.unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".json.part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
