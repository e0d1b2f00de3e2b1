"""Command-line options for quick tiny training runs in tests."""

from __future__ import annotations

from pathlib import Path


def fit_args(manifest: Path, root: Path, steps: int, *extra: str) -> list[str]:
    """LightningCLI options for a quick tiny run on the grey clips."""
    return [
        "--data.manifests", f"[{manifest}]",
        "--data.aspect_ratios", "[1.5]",
        "--data.resolution", "16",
        "--data.num_frames", "5",
        "--data.batch_size", "1",
        "--data.val_fraction", "0.1",
        "--trainer.default_root_dir", str(root),
        "--trainer.max_steps", str(steps),
        "--trainer.enable_progress_bar", "false",
        "--trainer.log_every_n_steps", "1",
        "--trainer.enable_model_summary", "false",
        "--model.network.text_layers", "1",
        "--model.warmup_steps", "2",
        "--model.lr", "1e-3",
        *extra,
    ]  # fmt: skip
