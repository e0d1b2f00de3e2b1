"""Generation cost of 3-way guidance (unconditional, +text, +audio): naive vs batched vs annealed.

    .venv/bin/python bench/bench_generate.py [--preset S] [--size 32] [--seconds 1] [--steps 4]

One run, same model, inputs and seed for every mode:
- naive:     each guidance pass its own forward (3 forwards per step)
- batched:   the passes stacked into one forward (FlowSampler's default)
- annealed:  batched, scales annealed (cosine) to 1, so passes whose weight reaches 0 are skipped
- text off:  batched, text scale 1 (the unconditional pass has weight 0 throughout)
- no cfg:    one conditioned pass (the floor)
Prints model forwards and rows (samples evaluated) per sampling step, and wall seconds per
generated second of video. Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
import torch

from omni.generate.pipeline import Guidance, OmniPipeline, VideoDefaults
from omni.media import read_audio, read_video
from omni.model.conditions import Conditions
from omni.model.omni_model import OmniModel, OmniModelConfig, VAESpec
from omni.model.presets import get_preset

FIXTURES = "/work/shared/fixtures"


def rows_of(cond: Conditions, start: int, stop: int) -> Conditions:
    """Rows start:stop of a batched Conditions (every tensor field and activity mask)."""
    out = {}
    for f in dataclasses.fields(cond):
        value = getattr(cond, f.name)
        if f.name == "active":
            out[f.name] = {k: v[start:stop] for k, v in value.items()}
        else:
            out[f.name] = None if value is None else value[start:stop]
    return Conditions(**out)


def naive(velocity, batch: int = 1):
    """A velocity that runs every guidance pass (a block of `batch` rows) as its own forward."""

    def run(x, t, cond):
        return torch.cat(
            [
                velocity(x[i : i + batch], t[i : i + batch], rows_of(cond, i, i + batch))
                for i in range(0, x.shape[0], batch)
            ]
        )

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="S")
    parser.add_argument("--size", type=int, default=32, help="output side in pixels")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--segment-frames", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # rows appear as they are measured
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = OmniModel(OmniModelConfig(mmdit=get_preset(args.preset), vae=VAESpec(patch=4)))
    with torch.no_grad():  # random weights: zero-initialised outputs would make every mode trivial
        for p in model.mmdit.parameters():
            p.normal_(0, 0.02)
    defaults = VideoDefaults(segment_frames=args.segment_frames, height=args.size, width=args.size)
    pipe = OmniPipeline(model, defaults, device="cpu")
    ref = read_video(f"{FIXTURES}/footage/talk_news_a.mp4", max_frames=1).frames[0]
    audio = read_audio(f"{FIXTURES}/audio/speech_en.wav", sr=16000, end_s=args.seconds)
    params = sum(p.numel() for p in model.mmdit.parameters()) / 1e6
    tokens = (args.size // 8) ** 2 * (args.segment_frames + 1)
    print(
        f"preset {args.preset} ({params:.1f}M MMDiT params), {args.size}x{args.size} px, "
        f"{tokens} video tokens per row, {args.steps} steps, {args.seconds:g} s at 25 fps, "
        f"{torch.get_num_threads()} threads"
    )

    modes = {
        "naive (3 forwards)": (Guidance(3.0, 4.0, None, None, "constant"), True),
        "batched": (Guidance(3.0, 4.0, None, None, "constant"), False),
        "batched + annealed (cosine -> 1)": (Guidance(3.0, 4.0, 1.0, 1.0, "cosine"), False),
        "batched, text scale 1": (Guidance(1.0, 4.0, None, None, "constant"), False),
        "no guidance": (Guidance(1.0, 1.0, None, None, "constant"), False),
    }
    inner = model.velocity
    frames: dict[str, np.ndarray] = {}
    base_time = None
    print("| mode | forwards / step | rows / step | s per generated s | speed-up vs naive |")
    print("|---|---|---|---|---|")
    for name, (cfg, is_naive) in modes.items():
        forwards = 0

        def counted(x, t, cond):
            nonlocal forwards
            forwards += 1
            return inner(x, t, cond)

        model.velocity = naive(counted) if is_naive else counted
        started = time.perf_counter()
        result = pipe(ref, audio=audio, audio_sr=16000, steps=args.steps, cfg=cfg, check_face=False)
        per_second = (time.perf_counter() - started) / result.seconds
        steps = len(result.segments) * args.steps
        base_time = base_time or per_second
        frames[name] = result.frames
        print(
            f"| {name} | {forwards / steps:.2f} | {result.stats['rows'] / steps:.2f} | "
            f"{per_second:.2f} | {base_time / per_second:.2f}x |"
        )
    model.velocity = inner
    diff = np.abs(frames["naive (3 forwards)"].astype(int) - frames["batched"]).max()
    print(f"naive vs batched: max pixel difference {diff} (same maths, different batching)")


if __name__ == "__main__":
    main()
