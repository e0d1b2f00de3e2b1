"""Does a trained demo model use its audio (or pose)? The loss with each sample's own condition vs
with the condition of another sample of the batch.

    .venv/bin/python bench/demo_condition_use.py --out OUT [--stage audio] [--condition audio]

OUT is an `omni demo` output folder. The stage's last checkpoint (EMA weights, as generation uses)
computes the flow-matching loss of the train clips' windows at fixed timesteps, once with their own
condition and once with the batch's conditions rolled by one sample; a model that ignores the
condition scores 0 %. Audio is measured on the talking faces (audio always on, pose off), pose on
the bodies (pose always on); text and reference are on with them (activating a condition activates
the weaker ones). The data come through the `pose` stage's config, the one that loads keypoints.
Prints the mean relative change per timestep, plain and with the checkpoint's `motion_weight` (the
loss the stage trained on); docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from omni.demo.pipeline import DemoConfig
from omni.manifest import read_manifest
from omni.training.lightning_cli import build_cli

KIND = {"audio": "face", "pose": "body"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="an `omni demo` output folder")
    ap.add_argument("--stage", default="audio", choices=("audio", "pose"))
    ap.add_argument("--condition", default="audio", choices=("audio", "pose"))
    ap.add_argument("--timesteps", default="0.3,0.5,0.7")
    ap.add_argument("--epochs", type=int, default=2, help="passes over the train clips")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    done = json.loads((args.out / "runs" / args.stage / "done.json").read_text())
    ckpt = torch.load(done["checkpoint"], map_location="cpu", weights_only=False)
    manifest = args.out / "curate" / "train.parquet"
    on = {"audio": ("1.0", "0.0"), "pose": ("0.5", "1.0")}[args.condition]
    options = [
        *DemoConfig(out=args.out).fit_args(),
        "--data.manifests", f"[{manifest}]",
        "--data.ratios.audio", on[0], "--data.ratios.pose", on[1],
        "--data.motion_prob", "0.0", "--data.num_workers", "0",
        "--data.batch_size", "8", "--data.cfg_drop", "null", "--data.val_fraction", "0.0",
        "--model.motion_weight", str(ckpt["hyper_parameters"].get("motion_weight", 0.0)),
    ]  # fmt: skip
    cli = build_cli(None, "pose", "tiny", options, run=False)
    module, data = cli.model, cli.datamodule
    module.load_state_dict(ckpt["state_dict"])
    module.ema.load_state_dict(ckpt["ema"])
    module.eval()
    data.setup("fit")
    kinds = read_manifest(manifest).df.set_index("clip_id")["synth_kind"]
    times = [float(t) for t in args.timesteps.split(",")]
    weight = module.hparams.motion_weight
    change: dict[tuple[float, bool], list[torch.Tensor]] = {}
    loader = data.train_dataloader()
    with torch.no_grad(), module.ema.swapped(module.model):
        for epoch in range(args.epochs):
            loader.batch_sampler.set_epoch(epoch)  # other windows and noise each pass
            for batch in loader:
                rows = torch.tensor([kinds[c] == KIND[args.condition] for c in batch["clip_id"]])
                if not rows.any():
                    continue
                other = dict(batch, **{args.condition: batch[args.condition].roll(1, 0)})
                for t in times:
                    tt = torch.full((len(rows),), t)
                    for weighted in (False, True) if weight else (False,):
                        own = module.losses(batch, tt, weighted=weighted)
                        rolled = module.losses(other, tt, weighted=weighted)
                        change.setdefault((t, weighted), []).append(((rolled - own) / own)[rows])
    print(f"{args.condition} use of {done['checkpoint']} ({args.stage} stage), "
          f"{KIND[args.condition]} windows, {args.condition} rolled across the batch:")  # fmt: skip
    for (t, weighted), values in change.items():
        v = torch.cat(values)
        label = f"motion-weighted ({weight:g})" if weighted else "plain MSE"
        print(
            f"  t={t:.2f} {label:>24}: loss change {100 * v.mean():+.3f} % "
            f"(n={len(v)} windows, {int((v > 0).sum())} up)"
        )


if __name__ == "__main__":
    main()
