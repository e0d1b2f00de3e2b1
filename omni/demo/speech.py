"""Speech-like synthetic audio whose loudness envelope is known exactly.

A clip is a sequence of syllables (voiced bursts of a glottal-like harmonic series shaped by vowel
formants, with a short noise onset for the consonant), grouped into words and phrases with pauses.
The amplitude envelope `a(t)` multiplies a carrier of constant RMS, so the audio's short-time RMS is
`a(t)` times a constant: the envelope averaged over each video frame is the ground-truth mouth
opening that the drawn faces follow frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Vowel formants (F1, F2, F3 in Hz) and lip rounding in [0, 1] (0 spread, 1 rounded).
VOWELS: dict[str, tuple[float, float, float, float]] = {
    "a": (750.0, 1250.0, 2600.0, 0.1),
    "e": (500.0, 1850.0, 2600.0, 0.0),
    "i": (300.0, 2250.0, 3000.0, 0.0),
    "o": (500.0, 900.0, 2500.0, 0.8),
    "u": (330.0, 850.0, 2300.0, 1.0),
}
_FORMANT_BW = (90.0, 120.0, 170.0)  # bandwidths of F1..F3
_ONSET_S = 0.025  # consonant noise burst length


@dataclass(frozen=True)
class Voice:
    """A speaker: base pitch and how lively the intonation is."""

    f0: float
    """Mean fundamental frequency in Hz (about 90-130 low voices, 170-240 high voices)."""
    intonation: float = 0.12
    """Relative pitch excursion of accented syllables."""


@dataclass
class Speech:
    """Synthetic speech and the ground truth that generated it."""

    wave: np.ndarray  # (N,) float32 in [-1, 1]
    sr: int
    envelope: np.ndarray  # (N,) float32 amplitude envelope a(t) in [0, 1]
    rounding: np.ndarray  # (N,) float32 lip rounding of the current vowel in [0, 1]
    syllables: list[tuple[float, float, str]]  # (start_s, end_s, vowel)

    def per_frame(self, fps: float, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """(envelope, rounding) averaged over each frame's interval [k/fps, (k+1)/fps), (T,) each."""
        return frame_mean(self.envelope, self.sr, fps, num_frames), frame_mean(
            self.rounding, self.sr, fps, num_frames
        )


def frame_mean(signal: np.ndarray, sr: int, fps: float, num_frames: int) -> np.ndarray:
    """Mean of a sample-rate signal over each video frame's display interval, (T,) float32."""
    edges = np.round(np.arange(num_frames + 1) / fps * sr).astype(np.int64)
    edges = np.clip(edges, 0, len(signal))
    sums = np.concatenate([[0.0], np.cumsum(signal, dtype=np.float64)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    return ((sums[edges[1:]] - sums[edges[:-1]]) / counts).astype(np.float32)


def schedule(rng: np.random.Generator, seconds: float) -> list[tuple[float, float, str, float]]:
    """Syllables (start_s, end_s, vowel, peak) in phrases of words, with pauses, filling `seconds`."""
    out: list[tuple[float, float, str, float]] = []
    t = float(rng.uniform(0.1, 0.3))
    vowels = list(VOWELS)
    while t < seconds - 0.2:
        for _ in range(int(rng.integers(2, 6))):  # words in a phrase
            for _ in range(int(rng.integers(1, 4))):  # syllables in a word
                length = float(rng.uniform(0.12, 0.26))
                if t + length > seconds - 0.05:
                    return out
                peak = float(rng.uniform(0.55, 1.0))
                out.append((t, t + length, vowels[int(rng.integers(len(vowels)))], peak))
                t += length + float(rng.uniform(0.03, 0.07))
            t += float(rng.uniform(0.05, 0.14))
        t += float(rng.uniform(0.25, 0.6))
    return out


def synthesize(rng: np.random.Generator, seconds: float, voice: Voice, sr: int = 16000) -> Speech:
    """Render `seconds` of speech-like audio for `voice`; deterministic for a given `rng` state."""
    if seconds <= 0 or sr <= 0:
        raise ValueError(f"seconds and sr must be positive, got seconds={seconds}, sr={sr}")
    n = round(seconds * sr)
    syllables = schedule(rng, seconds)
    envelope = np.zeros(n, np.float64)
    rounding = np.zeros(n, np.float64)
    formants = np.zeros((n, 3), np.float64)
    formants[:] = VOWELS["e"][:3]
    accent = np.zeros(n, np.float64)
    noise_gate = np.zeros(n, np.float64)
    for start, end, vowel, peak in syllables:
        i0, i1 = round(start * sr), min(round(end * sr), n)
        u = (np.arange(i0, i1) - i0) / max(i1 - i0 - 1, 1)
        envelope[i0:i1] = peak * np.sin(np.pi * u) ** 0.6
        *f, r = VOWELS[vowel]
        formants[i0:i1] = f
        rounding[i0:i1] = r
        accent[i0:i1] = rng.uniform(-1.0, 1.0)
        k = min(i1, i0 + round(_ONSET_S * sr))
        noise_gate[i0:k] = 0.25 * peak * np.hanning(2 * (k - i0))[k - i0 :]
    f0 = voice.f0 * (1 + voice.intonation * _smooth(accent, sr, 0.04))
    f0 *= 1 + 0.004 * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1))
    carrier = _voiced(f0, _smooth(formants, sr, 0.02), sr)
    noise = _highpass_noise(rng, n)
    wave = envelope * carrier + noise_gate * noise
    wave = 0.5 * wave / max(np.abs(wave).max(), 1e-9)
    return Speech(
        wave=wave.astype(np.float32),
        sr=sr,
        envelope=envelope.astype(np.float32),
        rounding=_smooth(rounding, sr, 0.03).astype(np.float32),
        syllables=[(s, e, v) for s, e, v, _ in syllables],
    )


def _smooth(x: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """Moving average over `seconds` along axis 0 (keeps parameter tracks free of clicks)."""
    width = max(1, round(seconds * sr))
    kernel = np.ones(width) / width
    if x.ndim == 1:
        return np.convolve(x, kernel, mode="same")
    return np.stack([np.convolve(c, kernel, mode="same") for c in x.T], axis=1)


def _voiced(f0: np.ndarray, formants: np.ndarray, sr: int) -> np.ndarray:
    """Harmonic series of f0 weighted by a 3-formant resonance, normalised to unit RMS per sample."""
    phase = 2 * np.pi * np.cumsum(f0) / sr  # (N,)
    max_harmonic = int(4000 // f0.min())
    out = np.zeros_like(f0)
    power = np.zeros_like(f0)
    for h in range(1, max_harmonic + 1):
        freq = h * f0
        gain = 1.0 / h  # glottal source tilt
        for j, bw in enumerate(_FORMANT_BW):
            gain = gain * (1 + 4.0 / (1 + ((freq - formants[:, j]) / bw) ** 2))
        gain = np.where(freq < sr / 2 - 200, gain, 0.0)
        out += gain * np.sin(h * phase)
        power += gain**2 / 2
    return out / np.sqrt(power)


def _highpass_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White noise with its low end removed (a first difference), unit RMS: fricative-like."""
    noise = np.diff(rng.standard_normal(n + 1))
    return noise / noise.std()
