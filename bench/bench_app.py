"""What the web app adds to a generation: the same request direct vs through the app's HTTP API.

    .venv/bin/python bench/bench_app.py [--repeats 5] [--seconds 1.0] [--steps 4]

One run, one tiny random model (patch VAE, 32 px), the same reference, audio and seed:
- direct: `omni.app.generation.generate` (OmniPipeline call + save_video + verify)
- app:    the app's `/generate` endpoint over loopback with gradio_client (upload both files,
          queue, progress events, the video copied into Gradio's cache and sent back)
Prints the median wall seconds of each and the app's overhead; the app is started in-process
on a free loopback port. Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import soundfile
import torch
from PIL import Image

from omni.app.generation import Request, generate
from omni.generate.pipeline import OmniPipeline
from omni.media import read_audio, read_video
from omni.model.omni_model import OmniModel, OmniModelConfig, VAESpec
from omni.model.presets import get_preset

FIXTURES = Path("/work/shared/fixtures")


def tiny_model_dir(root: Path) -> Path:
    torch.manual_seed(0)
    model = OmniModel(OmniModelConfig(mmdit=get_preset("tiny"), vae=VAESpec(patch=4)))
    with torch.no_grad():
        for p in model.mmdit.parameters():
            p.normal_(0, 0.05)
    return model.save_pretrained(root / "tiny")


def inputs(root: Path, seconds: float) -> tuple[Path, Path]:
    face = read_video(FIXTURES / "footage" / "talk_news_a.mp4", max_frames=1, size=(256, 256))
    Image.fromarray(face.frames[0]).save(root / "face.png")
    speech = read_audio(FIXTURES / "audio" / "speech_en.wav", 16000, 0.0, seconds)
    soundfile.write(root / "speech.wav", speech, 16000)
    return root / "face.png", root / "speech.wav"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    from gradio_client import Client, handle_file

    from omni.app.ui import AppConfig, build_app, serve

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ref, audio = inputs(root, args.seconds)
        pipe = OmniPipeline.from_pretrained(tiny_model_dir(root), device="cpu")
        request = Request(ref=str(ref), audio=str(audio), steps=args.steps)
        generate(pipe, request, root / "warm")  # first-call costs (mediapipe, kernels) out

        config = AppConfig(outputs=root / "app", workdir=root / "work", pipe=pipe)
        app = build_app(config)
        url = serve(app, config, "127.0.0.1", 0, block=False)
        direct, through = [], []
        try:
            client = Client(url, verbose=False)
            for _ in range(args.repeats):  # interleaved, so a change in machine load hits both
                started = time.perf_counter()
                generate(pipe, request, root / "direct")
                direct.append(time.perf_counter() - started)
                started = time.perf_counter()
                client.predict(
                    handle_file(str(ref)), handle_file(str(audio)), None, "", args.steps, 0,
                    2.0, 1.0, 3.0, 1.0, "cosine", 0, "euler", api_name="/generate",
                )  # fmt: skip
                through.append(time.perf_counter() - started)
        finally:
            app.close()

    d, a = statistics.median(direct), statistics.median(through)
    print(f"{args.seconds:g} s of video, {args.steps} steps, tiny model, {args.repeats} repeats")
    print(f"direct generate(): median {d:.2f} s  {[round(x, 2) for x in direct]}")
    print(f"app /generate    : median {a:.2f} s  {[round(x, 2) for x in through]}")
    print(f"app overhead     : {a - d:+.2f} s ({a / d:.2f}x)")


if __name__ == "__main__":
    main()
