"""Audio features per video frame: librosa log-mel (default) or wav2vec2 from a local directory.

Both map a waveform whose sample 0 is the first video frame's start to (num_frames, dim) float32,
frame i summarising [i / fps, (i + 1) / fps). Audio missing at the end counts as silence. They are
plain functions/objects of numpy arrays, so dataloader workers can call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import librosa
import numpy as np
import torch


class AudioEncoder(Protocol):
    """What the model needs from an audio feature extractor."""

    dim: int

    def __call__(self, wave: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray: ...


def _mono(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=0)
    if wave.ndim != 1:
        raise ValueError(f"wave must be (N,) or (channels, N), got shape {wave.shape}")
    return wave


def _check(sr: int, fps: float, num_frames: int) -> None:
    if sr <= 0 or fps <= 0 or num_frames < 1:
        raise ValueError(
            f"expected sr > 0, fps > 0 and num_frames >= 1, got sr={sr}, fps={fps}, num_frames={num_frames}"
        )


def _pad_to(wave: np.ndarray, n: int) -> np.ndarray:
    return wave[:n] if len(wave) >= n else np.pad(wave, (0, n - len(wave)))


@dataclass
class MelFeatures:
    """Log-mel energies of `sub_frames` equal sub-windows per video frame, concatenated.

    A 5 ms-hop mel spectrogram is averaged over the STFT frames whose centres fall in each
    sub-window (the nearest frame when none does), so timing is exact to the hop at any fps.
    Features are log10(mel power) / 4 + 1 (roughly [-1, 1.5] for speech at [-1, 1] amplitude).
    """

    n_mels: int = 80
    """Mel bands."""
    sub_frames: int = 2
    """Sub-windows per video frame (time resolution inside a frame)."""
    hop_s: float = 0.005
    """STFT hop in seconds."""
    window_s: float = 0.025
    """STFT window in seconds."""

    @property
    def dim(self) -> int:
        return self.n_mels * self.sub_frames

    def __call__(self, wave: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
        _check(sr, fps, num_frames)
        seconds = num_frames / fps
        wave = _pad_to(_mono(wave), int(np.ceil(seconds * sr)))
        hop = max(1, round(self.hop_s * sr))
        win = max(2, round(self.window_s * sr))
        n_fft = int(2 ** np.ceil(np.log2(win)))
        mel = librosa.feature.melspectrogram(
            y=wave, sr=sr, n_fft=n_fft, hop_length=hop, win_length=win, n_mels=self.n_mels,
            fmax=min(8000.0, sr / 2), center=True,
        )  # fmt: skip  # (n_mels, S), frame s centred at s * hop / sr
        centres = np.arange(mel.shape[1]) * hop / sr
        bins = num_frames * self.sub_frames
        which = np.floor(centres * fps * self.sub_frames).astype(np.int64)
        keep = (which >= 0) & (which < bins)
        sums = np.zeros((bins, self.n_mels))
        np.add.at(sums, which[keep], mel[:, keep].T)
        counts = np.bincount(which[keep], minlength=bins)
        empty = counts == 0
        if empty.any():  # sub-window shorter than the hop: take the nearest STFT frame
            mid = (np.arange(bins)[empty] + 0.5) / (fps * self.sub_frames)
            nearest = np.clip(np.round(mid * sr / hop).astype(np.int64), 0, mel.shape[1] - 1)
            sums[empty], counts[empty] = mel[:, nearest].T, 1
        power = sums / counts[:, None]  # (bins, n_mels)
        feats = np.log10(np.maximum(power, 1e-8)) / 4 + 1
        return feats.reshape(num_frames, self.dim).astype(np.float32)


_DEFAULT_MEL = MelFeatures()


def audio_features(wave: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
    """Default per-frame audio features (num_frames, 160) float32: `MelFeatures()`."""
    return _DEFAULT_MEL(wave, sr, fps, num_frames)


class Wav2Vec2Features:
    """wav2vec2 hidden states from a local `transformers` directory, resampled to the video fps.

    The hidden states of `layers` (indices into hidden_states, 0 = CNN features; default all
    transformer layers) are concatenated per step and linearly interpolated at each video
    frame's centre (i + 0.5) / fps. Input audio is resampled to the model's 16 kHz.
    """

    sample_rate = 16000
    stride_s = 0.02  # the conv feature encoder's total stride (320 samples at 16 kHz)
    receptive_s = (
        0.025  # its receptive field (400 samples): step k covers [k stride, k stride + rf)
    )

    def __init__(
        self, path: str | Path, layers: tuple[int, ...] | None = None, device: str = "cpu"
    ):
        from transformers import Wav2Vec2Model

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ValueError(
                f"wav2vec2 directory {str(path)!r} has no config.json: expected a transformers "
                "save_pretrained directory (config.json + model.safetensors)."
            )
        self.model = Wav2Vec2Model.from_pretrained(path, local_files_only=True).eval().to(device)
        n = self.model.config.num_hidden_layers
        self.layers = tuple(range(1, n + 1)) if layers is None else tuple(layers)
        if not all(0 <= i <= n for i in self.layers):
            raise ValueError(f"wav2vec2 layers must be in [0, {n}], got {self.layers}")
        self.normalize = self._reads_normalize(path)
        self.dim = len(self.layers) * self.model.config.hidden_size
        self.device = device

    @staticmethod
    def _reads_normalize(path: Path) -> bool:
        cfg = path / "preprocessor_config.json"
        if cfg.is_file():
            import json

            return bool(json.loads(cfg.read_text()).get("do_normalize", True))
        return True

    @torch.no_grad()
    def __call__(self, wave: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
        _check(sr, fps, num_frames)
        wave = _mono(wave)
        if sr != self.sample_rate:
            wave = librosa.resample(wave, orig_sr=sr, target_sr=self.sample_rate)
        wave = _pad_to(wave, int(np.ceil(num_frames / fps * self.sample_rate)) + 400)
        if self.normalize:
            wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
        x = torch.from_numpy(wave)[None].to(self.device)
        hidden = self.model(x, output_hidden_states=True).hidden_states
        feats = torch.cat([hidden[i][0] for i in self.layers], dim=-1).cpu().numpy()  # (S, dim)
        step_centre = np.arange(len(feats)) * self.stride_s + self.receptive_s / 2
        frame_centre = (np.arange(num_frames) + 0.5) / fps
        pos = np.interp(frame_centre, step_centre, np.arange(len(feats)))
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, len(feats) - 1)
        w = (pos - lo)[:, None]
        return ((1 - w) * feats[lo] + w * feats[hi]).astype(np.float32)
