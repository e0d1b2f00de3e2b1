"""Watermark robustness, false positives and visual cost on the real fixtures.

    .venv/bin/python bench/bench_watermark.py [--seconds 5] [--videos d12.mp4 ...] [--baseline]

Each fixture's first `--seconds` are marked (omni.provenance.watermark_frames) and written as
write_marked_video writes them (h264 CRF 18). Each attack decodes that file, transforms it and
re-encodes it with h264; detection is what `omni verify` runs (40 frames sampled over the file).
A detection counts only when the decoded payload is the one embedded. False positives: the same
pipeline on the unmarked fixtures (as they are, and after the geometric attacks). Prints markdown.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.progress import Progress

from omni.media import probe, read_video, write_video
from omni.provenance.video import sample_frames
from omni.provenance.watermark import Payload, detect_watermark, watermark_frames

FIXTURES = Path(os.environ.get("OMNI_FIXTURES", Path(__file__).parents[2] / "shared" / "fixtures"))
PAYLOAD = Payload(checkpoint="5eed42")


def _even(frames: np.ndarray) -> np.ndarray:
    return frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]


def _resize(frames: np.ndarray, factor: float) -> np.ndarray:
    h, w = frames.shape[1:3]
    size = (round(w * factor / 2) * 2, round(h * factor / 2) * 2)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def _crop(frames: np.ndarray, keep: float, centre: bool) -> np.ndarray:
    h, w = frames.shape[1:3]
    ch, cw = round(h * keep / 2) * 2, round(w * keep / 2) * 2
    y0, x0 = ((h - ch) // 2, (w - cw) // 2) if centre else (0, 0)
    return frames[:, y0 : y0 + ch, x0 : x0 + cw]


# name -> (transform of decoded frames, h264 CRF of the re-encode, trim seconds from the start)
ATTACKS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int, float]] = {
    "as written (CRF 18)": (lambda f: f, 0, 0.0),
    "re-encode CRF 23": (lambda f: f, 23, 0.0),
    "re-encode CRF 28": (lambda f: f, 28, 0.0),
    "re-encode CRF 33": (lambda f: f, 33, 0.0),
    "re-encode CRF 38": (lambda f: f, 38, 0.0),
    "half size, CRF 23": (lambda f: _resize(f, 0.5), 23, 0.0),
    "2/3 size, CRF 23": (lambda f: _resize(f, 2 / 3), 23, 0.0),
    "crop 10% centre (5% each side), CRF 23": (lambda f: _crop(f, 0.9, True), 23, 0.0),
    "crop 10% corner (right/bottom), CRF 23": (lambda f: _crop(f, 0.9, False), 23, 0.0),
    "trim first 2 s, CRF 23": (lambda f: f, 23, 2.0),
    "half size + crop 10%, CRF 28": (lambda f: _crop(_resize(f, 0.5), 0.9, True), 28, 0.0),
}
GEOMETRIC = [
    "half size, CRF 23",
    "2/3 size, CRF 23",
    "crop 10% centre (5% each side), CRF 23",
    "trim first 2 s, CRF 23",
]


def attack(source: Path, name: str, out: Path) -> Path:
    transform, crf, trim = ATTACKS[name]
    if crf == 0:
        return source
    fps = probe(source).fps or 25.0
    frames = read_video(source, start_s=trim).frames
    return write_video(out, _even(transform(frames)), fps, crf=crf)


def detect(path: Path) -> tuple[bool, bool, float]:
    """(found, payload right, seconds)."""
    start = time.perf_counter()
    result = detect_watermark(sample_frames(path))
    return result.found, result.payload == PAYLOAD, time.perf_counter() - start


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def run(videos: list[str], seconds: float, tmp: Path) -> None:
    hits = {name: 0 for name in ATTACKS}
    rows, false_pos, checks, detect_times = [], 0, 0, []
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("videos", total=len(videos))
        for name in videos:
            source = FIXTURES / "footage" / name
            info = probe(source)
            clean = _even(read_video(source, end_s=seconds).frames)
            start = time.perf_counter()
            marked = watermark_frames(clean, PAYLOAD)
            embed_s = (time.perf_counter() - start) / len(clean)
            rows.append((name, f"{clean.shape[2]}x{clean.shape[1]}", psnr(marked, clean), embed_s))
            fps = info.fps or 25.0
            written = write_video(tmp / f"marked_{name}", marked, fps, crf=18)
            plain = write_video(tmp / f"plain_{name}", clean, fps, crf=18)
            for attack_name in ATTACKS:
                found, right, dt = detect(attack(written, attack_name, tmp / "attacked.mp4"))
                hits[attack_name] += found and right
                detect_times.append(dt)
            for attack_name in ["as written (CRF 18)", *GEOMETRIC]:
                found, _, _ = detect(attack(plain, attack_name, tmp / "attacked.mp4"))
                false_pos += found
                checks += 1
            progress.console.print(f"done {name}: {hits} false positives {false_pos}/{checks}")
            progress.advance(task)
    _print(rows, hits, len(videos), false_pos, checks, detect_times)


def _print(rows, hits, n, false_pos, checks, detect_times) -> None:
    print("\n| fixture | size | PSNR marked vs clean (dB) | embed s/frame |")
    print("|---|---|---|---|")
    for name, size, value, embed_s in rows:
        print(f"| {name} | {size} | {value:.2f} | {embed_s:.3f} |")
    print(f"\n| attack | detected with the right payload (of {n}) |")
    print("|---|---|")
    for name, count in hits.items():
        print(f"| {name} | {count}/{n} |")
    print(
        f"\nfalse positives on unmarked fixtures (as is + {len(GEOMETRIC)} geometric attacks): "
        f"{false_pos}/{checks}"
    )
    print(f"detection time per file: median {np.median(detect_times):.2f} s, "
          f"max {np.max(detect_times):.2f} s")  # fmt: skip


def baseline(tmp: Path) -> None:
    """imwatermark's own frame API (row-major layout, no geometry search) on d12, for comparison."""
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    clean = read_video(FIXTURES / "footage" / "d12.mp4", max_frames=20).frames
    bits = PAYLOAD.to_bits()
    print("\n| imwatermark method | bit accuracy: as is | CRF 28 | half size | crop 10% |")
    print("|---|---|---|---|---|")
    for method in ("dwtDct", "dwtDctSvd"):
        encoder = WatermarkEncoder()
        encoder.set_by_bits(bits)
        marked = np.stack([encoder.encode(f[..., ::-1].copy(), method)[..., ::-1] for f in clean])
        cases = {
            "as is": marked,
            "crf28": read_video(write_video(tmp / "b.mp4", marked, 25, crf=28)).frames,
            "half": _resize(marked, 0.5),
            "crop": _crop(marked, 0.9, True),
        }
        decoder = WatermarkDecoder("bits", len(bits))
        accuracy = []
        for frames in cases.values():
            per_frame = []
            for frame in frames:
                if frame.shape[0] * frame.shape[1] < 256 * 256:  # the package refuses small frames
                    frame = cv2.resize(frame, (512, 512))
                per_frame.append(np.mean(decoder.decode(frame[..., ::-1].copy(), method) == bits))
            accuracy.append(f"{np.mean(per_frame):.3f}")
        print(f"| {method} | " + " | ".join(accuracy) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--videos", nargs="*", default=None)
    parser.add_argument("--baseline", action="store_true", help="also run imwatermark's own API")
    args = parser.parse_args()
    videos = args.videos or sorted(p.name for p in (FIXTURES / "footage").glob("*.mp4"))
    with tempfile.TemporaryDirectory() as tmp:
        run(videos, args.seconds, Path(tmp))
        if args.baseline:
            baseline(Path(tmp))


if __name__ == "__main__":
    main()
