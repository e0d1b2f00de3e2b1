"""The demo's training: `omni fit` through the stages at the tiny preset, and its loss curves.

Each stage starts from the previous stage's last checkpoint (`--init-from`), as the paper trains.
A stage whose run finished (a `done.json` beside its runs) is not trained again, so an interrupted
demo resumes at the stage it was in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StagePlan:
    """One `omni fit` run of the demo."""

    stage: str
    steps: int
    root: Path
    """Its `--trainer.default_root_dir`."""
    extra: tuple[str, ...] = ()
    """More LightningCLI options (e.g. a different audio ratio for the ablation)."""

    def args(self, manifests: Sequence[Path], seed: int) -> list[str]:
        listed = "[" + ",".join(str(m) for m in manifests) + "]"
        return [
            "--trainer.max_steps", str(self.steps),
            "--trainer.default_root_dir", str(self.root),
            "--trainer.val_check_interval", str(max(1, self.steps)),
            "--trainer.enable_progress_bar", "true",
            "--data.manifests", listed,
            "--seed_everything", str(seed),
            *self.extra,
        ]  # fmt: skip


def fit_stage(
    plan: StagePlan, manifests: Sequence[Path], seed: int, init_from: Path | None
) -> Path:
    """Train one stage (or reuse its finished run); returns its last checkpoint."""
    done = plan.root / "done.json"
    if done.exists():
        ckpt = Path(json.loads(done.read_text())["checkpoint"])
        if ckpt.exists():
            return ckpt
    from omni.training.lightning_cli import build_cli

    cli = build_cli(
        "fit",
        plan.stage,
        "tiny",
        plan.args(manifests, seed),
        init_from=None if init_from is None else str(init_from),
    )
    ckpt = _last_checkpoint(cli.trainer)
    tmp = done.with_suffix(".part")
    tmp.write_text(json.dumps({"checkpoint": str(ckpt), "steps": plan.steps, "stage": plan.stage}))
    os.replace(tmp, done)
    return ckpt


def _last_checkpoint(trainer) -> Path:
    """The run's last.ckpt (saved by the ModelCheckpoint callback of configs/base.yaml)."""
    callback = trainer.checkpoint_callback
    path = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
    if not path:
        path = str(Path(trainer.log_dir) / "checkpoints" / "last.ckpt")
        trainer.save_checkpoint(path)
    return Path(path)


def metrics_csv(root: Path) -> Path | None:
    """The newest csv/metrics.csv under a stage's root, if any."""
    found = sorted(root.glob("*/csv/metrics.csv"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def plot_curves(roots: dict[str, Path], path: Path) -> Path | None:
    """train/loss per step of each stage, one panel per stage, as a PNG; None if nothing logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    series = {}
    for name, root in roots.items():
        csv = metrics_csv(root)
        if csv is None:
            continue
        df = pd.read_csv(csv)
        if "train/loss" in df:
            loss = df[["step", "train/loss"]].dropna()
            if len(loss):
                series[name] = loss
    if not series:
        return None
    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3), squeeze=False)
    for ax, (name, loss) in zip(axes[0], series.items(), strict=True):
        ax.plot(loss["step"], loss["train/loss"], lw=1)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel("train/loss (flow matching)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
