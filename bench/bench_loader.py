"""Training data loader throughput (raw video and feature cache, 0 and 2 workers) vs. the training
step at a size preset, measured in the same run.

    .venv/bin/python bench/bench_loader.py [--preset S] [--batches 12] [--steps 3]

Data: the real clips in ../shared/fixtures/footage (or $OMNI_FIXTURES), decoded at the preset's
resolution, window length and batch size, with the audio stage's conditions (video, reference,
per-frame log-mel audio). Prints samples/s for each loader and the ratio of the cached loader's
rate to the rate at which training consumes samples (batch size / step time); the target is
>= 1, i.e. the cached loader keeps the step fed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from omni.datamodules.conditions import ConditionRatios
from omni.datamodules.datamodule import OmniDataModule
from omni.manifest import write_manifest
from omni.media import MediaError, probe
from omni.training.lightning_cli import preset_config
from omni.training.module import OmniModule
from omni.training.network import NetworkConfig

FIXTURES = Path(
    os.environ.get("OMNI_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)


def fixture_manifest(out: Path, clip_s: float = 2.0) -> Path:
    """Every fixture video cut into consecutive `clip_s` clips, one manifest row each."""
    rows = []
    for path in sorted((FIXTURES / "footage").glob("*.mp4")):
        try:
            info = probe(path)
        except MediaError:
            continue
        for k in range(int(info.duration_s // clip_s)):
            rows.append({
                "clip_id": f"{path.stem}-{k}", "source": str(path), "start_s": k * clip_s,
                "end_s": (k + 1) * clip_s, "fps": info.fps, "num_frames": round(clip_s * info.fps),
                "width": info.width, "height": info.height, "has_audio": info.has_audio,
                "audio_sr": info.audio_sr, "rotation": info.rotation, "caption": f"a person, {path.stem}",
                "status": "ok", "eligible_text_ref": True, "eligible_audio": info.has_audio,
                "eligible_pose": False,
            })  # fmt: skip
    if not rows:
        raise SystemExit(f"no fixture videos under {FIXTURES / 'footage'} (set OMNI_FIXTURES)")
    return write_manifest(pd.DataFrame(rows), out / "fixtures.parquet")


def loader_rate(dm: OmniDataModule, batches: int) -> float:
    """Samples per second over `batches` batches after a first warm-up batch (epochs repeat)."""
    sampler = dm.train_sampler()
    loader = dm._loader(dm._dataset(dm.train_table, True), sampler)
    seen, start, epoch = -1, None, 0
    while seen < batches:
        sampler.set_epoch(epoch)
        for _ in loader:
            if start is None:
                start, seen = time.perf_counter(), 0
                continue
            seen += 1
            if seen >= batches:
                break
        epoch += 1
    return batches * dm.hparams.batch_size / (time.perf_counter() - start)


def step_time(module: OmniModule, batch: dict, steps: int) -> float:
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = module.losses(batch).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return sum(times[1:]) / steps  # the first step warms up allocations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="S")
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    preset = yaml.safe_load(preset_config(args.preset).read_text())
    data, model = preset["data"], preset["model"]
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = fixture_manifest(Path(tmp))
        net = NetworkConfig(**model.get("network", {}))
        module = OmniModule(preset=model["preset"], network=net)

        def datamodule(workers: int, cache: str | None) -> OmniDataModule:
            dm = OmniDataModule(
                manifests=[str(manifest)], val_fraction=0.0, num_workers=workers,
                ratios=ConditionRatios(text=0.9, ref=0.7, audio=0.5), cache_dir=cache,
                cache_windows=2, **{k: v for k, v in data.items() if k != "num_workers"},
            )  # fmt: skip
            dm.audio_fn = module.audio_encoder()
            dm.encoder = module.cache_encoder()
            dm.setup("fit")
            return dm

        rows = []
        for workers in (0, 2):
            rows.append(
                (
                    f"raw video, {workers} workers",
                    loader_rate(datamodule(workers, None), args.batches),
                )
            )
        start = time.perf_counter()
        datamodule(0, f"{tmp}/cache")
        build = time.perf_counter() - start
        for workers in (0, 2):
            rows.append(
                (
                    f"cache, {workers} workers",
                    loader_rate(datamodule(workers, f"{tmp}/cache"), args.batches),
                )
            )
        batch = next(iter(datamodule(0, None).train_dataloader()))
        step = step_time(module, batch, args.steps)
    consumed = data["batch_size"] / step
    print(f"preset {args.preset}: batch {data['batch_size']} x {data['num_frames']} frames at "
          f"{data['resolution']} px, {sum(p.numel() for p in module.model.mmdit.parameters()) / 1e6:.1f}M MMDiT")  # fmt: skip
    print(f"cache build (2 windows per clip): {build:.1f} s")
    print(
        f"training step (fwd + bwd + AdamW, fp32): {step:.2f} s -> {consumed:.2f} samples/s consumed"
    )
    print("| loader | samples/s | ÷ training consumption |")
    print("|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.2f} | {rate / consumed:.2f} |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
