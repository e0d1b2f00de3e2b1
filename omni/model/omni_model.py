"""`OmniModel`: the VAE, text encoder, audio features and MMDiT as one saveable bundle.

On disk a model is a directory with `config.json` (this module's `OmniModelConfig`, versioned)
and `model.safetensors` (the weights omni owns: the MMDiT, and the VAE / text encoder when they
are omni's own trainable ones). Frozen pretrained parts (a diffusers VAE, open_clip, T5,
wav2vec2) are recorded by their local path in config.json and loaded from there again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from omni.model.audio import AudioEncoder, MelFeatures, Wav2Vec2Features
from omni.model.conditions import Conditions
from omni.model.mmdit import OmniMMDiT
from omni.model.presets import MMDiTConfig, get_preset
from omni.model.text import OpenCLIPText, SmallTextEncoder, T5Text, TextOutput
from omni.model.vae import CausalVAE, CausalVAEConfig, DiffusersVAE, PatchVAE, VideoVAE

FORMAT, VERSION = "omni-model", 1
CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"


@dataclass
class VAESpec:
    """Which video VAE to use."""

    kind: Literal["patch", "causal", "diffusers"] = "patch"
    """patch: exact pixel patches (toy runs); causal: omni's own trainable causal VAE;
    diffusers: a frozen diffusers causal video VAE from `path`."""
    patch: int = 2
    """Pixel patch size of the patch VAE."""
    causal: dict[str, Any] = field(default_factory=dict)
    """CausalVAEConfig fields of the causal VAE."""
    path: str | None = None
    """Local diffusers VAE directory (config.json + weights) for kind=diffusers."""
    class_name: str | None = None
    """diffusers: the VAE class (e.g. AutoencoderKLWan), recorded when the model is built; a
    reload builds this class and checks the directory holds it."""


@dataclass
class TextSpec:
    """Which text encoder to use."""

    kind: Literal["small", "open_clip", "t5", "none"] = "small"
    """small: trainable default; open_clip / t5: frozen, from `path`; none: the caller passes
    text features of the MMDiT's text_dim (e.g. HunyuanVideo's LLaMA features)."""
    width: int = 64
    """small: width = text feature dim."""
    layers: int = 2
    """small: transformer layers."""
    heads: int = 2
    """small: attention heads."""
    path: str | None = None
    """open_clip local dir or checkpoint file / T5 directory."""
    model_name: str | None = None
    """open_clip architecture name when `path` is a checkpoint file."""
    max_length: int = 128
    """t5: token limit."""


@dataclass
class AudioSpec:
    """Which per-frame audio features to use."""

    kind: Literal["mel", "wav2vec2"] = "mel"
    """mel: librosa log-mel (default); wav2vec2: from `path`."""
    n_mels: int = 80
    """mel: bands."""
    sub_frames: int = 2
    """mel: sub-windows per video frame."""
    path: str | None = None
    """wav2vec2 transformers directory."""
    layers: list[int] | None = None
    """wav2vec2 hidden-state indices to concatenate (None = every transformer layer)."""


@dataclass
class GenerationDefaults:
    """Geometry and timing the model was trained with: what a generation uses unless told.
    `omni export` fills them in from the training data's settings."""

    fps: float = 25.0
    """Output frame rate (the rate training windows were sampled at)."""
    segment_frames: int = 9
    """Frames per generated segment (the training window, 1 + r·k for the VAE's r)."""
    height: int = 32
    """Output height in pixels."""
    width: int = 32
    """Output width in pixels."""
    audio_sr: int = 16000
    """Sample rate audio is read at before feature extraction."""
    pose_sigma: float = 2.0
    """Keypoint heatmap Gaussian width, in output pixels."""

    def __post_init__(self) -> None:
        bad = {
            name: getattr(self, name)
            for name in ("fps", "segment_frames", "height", "width", "audio_sr", "pose_sigma")
            if not getattr(self, name) > 0
        }
        if bad:
            raise ValueError(f"generation defaults must be positive, got {bad}")


@dataclass
class OmniModelConfig:
    """Everything needed to rebuild an OmniModel (saved as config.json)."""

    mmdit: MMDiTConfig = field(default_factory=lambda: get_preset("tiny"))
    """MMDiT architecture; in_channels, text_dim, audio_dim and latent factors are set from the parts."""
    vae: VAESpec = field(default_factory=VAESpec)
    text: TextSpec = field(default_factory=TextSpec)
    audio: AudioSpec = field(default_factory=AudioSpec)
    generation: GenerationDefaults | None = None
    """Training fps / window / resolution / audio rate / pose sigma (None = not recorded)."""

    def to_dict(self) -> dict[str, Any]:
        gen = None if self.generation is None else dataclasses.asdict(self.generation)
        return {
            "format": FORMAT,
            "version": VERSION,
            "mmdit": self.mmdit.to_dict(),
            "vae": dataclasses.asdict(self.vae),
            "text": dataclasses.asdict(self.text),
            "audio": dataclasses.asdict(self.audio),
            "generation": gen,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OmniModelConfig:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(
                f"expected an omni model config (format {FORMAT!r}, version {VERSION}), got "
                f"format {data.get('format')!r}, version {data.get('version')!r}"
            )
        return cls(
            mmdit=MMDiTConfig.from_dict(data["mmdit"]),
            vae=_spec(VAESpec, data.get("vae", {})),
            text=_spec(TextSpec, data.get("text", {})),
            audio=_spec(AudioSpec, data.get("audio", {})),
            generation=None
            if data.get("generation") is None
            else _spec(GenerationDefaults, data["generation"]),
        )


def _spec(cls, data: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; expected some of {sorted(known)}")
    return cls(**data)


def _need_path(kind: str, path: str | None, what: str) -> str:
    if not path:
        raise ValueError(f"{what} kind {kind!r} needs `path` (a local directory or file); got none")
    return path


def build_vae(spec: VAESpec) -> VideoVAE:
    if spec.kind == "patch":
        return PatchVAE(spec.patch)
    if spec.kind == "causal":
        return CausalVAE(CausalVAEConfig(**spec.causal))
    if spec.kind == "diffusers":
        return DiffusersVAE(_need_path(spec.kind, spec.path, "vae"), spec.class_name)
    raise ValueError(f"vae kind must be patch, causal or diffusers, got {spec.kind!r}")


def build_text(spec: TextSpec) -> nn.Module | None:
    if spec.kind == "small":
        return SmallTextEncoder(spec.width, spec.layers, spec.heads)
    if spec.kind == "open_clip":
        return OpenCLIPText(_need_path(spec.kind, spec.path, "text"), spec.model_name)
    if spec.kind == "t5":
        return T5Text(_need_path(spec.kind, spec.path, "text"), spec.max_length)
    if spec.kind == "none":
        return None
    raise ValueError(f"text kind must be small, open_clip, t5 or none, got {spec.kind!r}")


def build_audio(spec: AudioSpec) -> AudioEncoder:
    if spec.kind == "mel":
        return MelFeatures(spec.n_mels, spec.sub_frames)
    if spec.kind == "wav2vec2":
        layers = None if spec.layers is None else tuple(spec.layers)
        return Wav2Vec2Features(_need_path(spec.kind, spec.path, "audio"), layers)
    raise ValueError(f"audio kind must be mel or wav2vec2, got {spec.kind!r}")


class OmniModel(nn.Module):
    """Bundle of `vae`, `text` (text encoder, None for kind=none), `audio` (feature function,
    not a module) and `mmdit`; the MMDiT config is completed from the parts."""

    def __init__(self, config: OmniModelConfig | None = None) -> None:
        super().__init__()
        config = config or OmniModelConfig()
        self.vae = build_vae(config.vae)
        self.text = build_text(config.text)
        self.audio = build_audio(config.audio)
        m = config.mmdit
        text_dim = m.text_dim if self.text is None else self.text.dim
        pooled_dim = m.pooled_text_dim if self.text is None else self.text.pooled_dim
        resolved = m.replace(
            in_channels=self.vae.latent_channels,
            text_dim=text_dim,
            pooled_text_dim=pooled_dim,
            audio_dim=self.audio.dim if m.audio_dim else 0,
            latent_temporal_factor=self.vae.temporal_factor,
            latent_spatial_factor=self.vae.spatial_factor,
        )
        vae_spec = config.vae
        if isinstance(self.vae, DiffusersVAE):
            vae_spec = dataclasses.replace(vae_spec, class_name=self.vae.class_name)
        self.config = dataclasses.replace(config, mmdit=resolved, vae=vae_spec)
        if config.generation is not None:
            self._check_generation(config.generation)
        self.mmdit = OmniMMDiT(resolved)

    def _check_generation(self, gen: GenerationDefaults) -> None:
        r = self.vae.temporal_factor
        cell = self.vae.spatial_factor * self.config.mmdit.patch_size[1]
        if (gen.segment_frames - 1) % r:
            raise ValueError(
                f"generation.segment_frames must be 1 + {r}k for this VAE, got {gen.segment_frames}"
            )
        if gen.height % cell or gen.width % cell:
            raise ValueError(
                f"generation height and width must be multiples of {cell} (VAE factor x patch), "
                f"got {gen.height}x{gen.width}"
            )

    # --- helpers for training and generation -----------------------------------------------

    def encode_video(self, video: Tensor) -> Tensor:
        """(B, 3, 1+r k, H, W) in [-1, 1] -> latent (B, C, 1+k, H/s, W/s)."""
        return self.vae.encode(video)

    def decode_latent(self, latent: Tensor) -> Tensor:
        """latent (B, C, F, h, w) -> video (B, 3, 1+r(F-1), h s, w s) in [-1, 1]."""
        return self.vae.decode(latent)

    def encode_text(self, texts: list[str]) -> TextOutput:
        if self.text is None:
            raise ValueError(
                "this model has no text encoder (text kind 'none'): pass text features "
                f"(B, L, {self.config.mmdit.text_dim}) in Conditions.text instead"
            )
        return self.text(texts)

    def audio_features(self, wave: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
        """(num_frames, audio_dim) float32 features, frame i covering [i/fps, (i+1)/fps)."""
        return self.audio(wave, sr, fps, num_frames)

    def velocity(self, x: Tensor, t: Tensor, cond: Conditions) -> Tensor:
        """The MMDiT's velocity for the noisy latent x (B, C, F, h, w) at t (B,)."""
        return self.mmdit(x, t, cond)

    # --- save / load -------------------------------------------------------------------------

    def owned_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes saved in model.safetensors (frozen pretrained parts are not)."""
        owned = ["mmdit."]
        if self.config.vae.kind == "causal":
            owned.append("vae.")
        if self.config.text.kind == "small":
            owned.append("text.")
        return tuple(owned)

    def owned_state_dict(self, state_dict: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        state = self.state_dict() if state_dict is None else state_dict
        return {k: v for k, v in state.items() if k.startswith(self.owned_prefixes())}

    def save_pretrained(
        self, directory: str | os.PathLike, state_dict: dict[str, Tensor] | None = None
    ) -> Path:
        """Write config.json + model.safetensors (pass `state_dict`, e.g. EMA weights, to save
        those instead of the live ones). Each file is written to a temp name and renamed."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {
            k: v.detach().cpu().contiguous() for k, v in self.owned_state_dict(state_dict).items()
        }
        _atomic(out / WEIGHTS_NAME, lambda p: save_file(tensors, p, metadata={"format": FORMAT}))
        text = json.dumps(self.config.to_dict(), indent=2)
        _atomic(out / CONFIG_NAME, lambda p: Path(p).write_text(text))
        return out

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, device: str | torch.device = "cpu"
    ) -> OmniModel:
        """Load a directory written by `save_pretrained` (or `omni import-t2v` / `omni export`)."""
        path = Path(directory)
        if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
            raise ValueError(
                f"{str(path)!r} is not an omni model directory: expected {CONFIG_NAME} and "
                f"{WEIGHTS_NAME} (from save_pretrained, `omni export` or `omni import-t2v`)"
            )
        config = OmniModelConfig.from_dict(json.loads((path / CONFIG_NAME).read_text()))
        model = cls(config)
        model.load_owned(load_file(path / WEIGHTS_NAME))
        return model.to(device).eval()

    def load_owned(self, tensors: dict[str, Tensor]) -> None:
        """Load exactly the owned tensors; anything missing or extra is an error."""
        want = self.owned_state_dict()
        missing, extra = sorted(set(want) - set(tensors)), sorted(set(tensors) - set(want))
        bad = [k for k in set(want) & set(tensors) if want[k].shape != tensors[k].shape]
        if missing or extra or bad:
            raise ValueError(
                f"weights do not match the config: missing {missing[:5]} ({len(missing)}), "
                f"unexpected {extra[:5]} ({len(extra)}), wrong shape {sorted(bad)[:5]}"
            )
        self.load_state_dict(tensors, strict=False)


def _atomic(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
