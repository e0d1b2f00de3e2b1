"""`omni test`: score existing videos (`--generated DIR --real DIR`) or a checkpoint (`--ckpt`)."""

from __future__ import annotations

from pathlib import Path

import click

from omni.nativelog import native_messages_to

_PATH = click.Path(path_type=Path)


@click.command(
    "test",
    context_settings={"help_option_names": ["-h", "--help"], "ignore_unknown_options": True},
)
@click.option("--generated", type=_PATH, help="Folder of generated videos (paired by file name).")
@click.option("--real", type=_PATH, help="Folder of real videos with the same names.")
@click.option(
    "--ckpt", type=_PATH, help="Checkpoint to generate the test set with (Lightning test loop)."
)
@click.option("--data", type=_PATH, help="Test manifest (.parquet) for --ckpt.")
@click.option("--stage", default="audio", show_default=True, help="Stage config for --ckpt.")
@click.option("--preset", default="tiny", show_default=True, help="Size preset for --ckpt.")
@click.option("--steps", type=int, help="Sampler steps for --ckpt (default 30, as omni generate).")
@click.option(
    "--frames",
    type=int,
    help="Frames generated per test clip for --ckpt, 1 + 4k (default: the model's training "
    "window, one segment); longer windows are generated as omni generate makes long videos, in "
    "segments chained by motion frames.",
)
@click.option(
    "--cfg-text", type=float, help="Text guidance scale at the first step for --ckpt (default 2)."
)
@click.option(
    "--cfg-audio",
    type=float,
    help="Audio guidance scale at the first step for --ckpt (default 3).",
)
@click.option("--out", type=_PATH, default=Path("eval"), show_default=True, help="Output folder.")
@click.option("--inception", type=_PATH, help="torch-fidelity Inception weights: enables FID.")
@click.option("--i3d", type=_PATH, help="pytorch-i3d rgb_imagenet.pt: enables FVD.")
@click.option("--syncnet", type=_PATH, help="syncnet_python syncnet_v2.model: enables Sync-C/D.")
@click.option(
    "--ase-clip",
    type=_PATH,
    help="open_clip ViT-L/14 (local dir in open_clip's layout, or checkpoint file): with "
    "--ase-head, enables ASE.",
)
@click.option(
    "--ase-head",
    type=_PATH,
    help="LAION improved-aesthetic-predictor MLP (sac+logos+ava1-l14-linearMSE.pth): with "
    "--ase-clip, enables ASE.",
)
@click.option(
    "--scorer",
    "scorers",
    multiple=True,
    metavar="NAME=module:attr[:ARG]",
    help="Plug-in per-frame scorer (IQA, ...); repeatable.",
)
@click.option(
    "--scorer-stride",
    type=int,
    default=1,
    show_default=True,
    help="ASE and plug-in scorers on every n-th frame.",
)
@click.option("--fps", type=float, default=25.0, show_default=True, help="Analysis frame rate.")
@click.option("--batch", type=int, default=16, show_default=True, help="Frames per batch.")
@click.option(
    "--fid-stride", type=int, default=1, show_default=True, help="FID on every n-th frame."
)
@click.option("--max-seconds", type=float, help="Score at most this many seconds per video.")
@click.option("--no-landmark-sync", is_flag=True, help="Skip the landmark sync score.")
@click.option("--no-hands", is_flag=True, help="Skip HKC/HKV (pose estimation).")
@click.option("--device", default="cpu", show_default=True)
@click.argument("lightning_args", nargs=-1, type=click.UNPROCESSED)
def test(
    generated: Path | None,
    real: Path | None,
    ckpt: Path | None,
    data: Path | None,
    stage: str,
    preset: str,
    steps: int | None,
    frames: int | None,
    cfg_text: float | None,
    cfg_audio: float | None,
    out: Path,
    inception: Path | None,
    i3d: Path | None,
    syncnet: Path | None,
    ase_clip: Path | None,
    ase_head: Path | None,
    scorers: tuple[str, ...],
    scorer_stride: int,
    fps: float,
    batch: int,
    fid_stride: int,
    max_seconds: float | None,
    no_landmark_sync: bool,
    no_hands: bool,
    device: str,
    lightning_args: tuple[str, ...],
) -> None:
    """Evaluate: FID, FVD, Sync-C/D, landmark sync, HKC/HKV, ASE (+ plug-in IQA).

    Writes OUT/metrics.json and OUT/report.html. A metric whose weights are not given is
    reported as unavailable, with the option that enables it. With --ckpt, every other option
    goes to LightningCLI (e.g. --trainer.devices 4 --data.batch_size 2).
    """
    from omni.evaluation.extractors import EvalOptions

    if (generated is None) == (ckpt is None):
        raise click.UsageError(
            "pass either --generated DIR (with --real DIR) to score existing videos, or --ckpt "
            "CKPT --data test.parquet to generate and score a test set"
        )
    if lightning_args and ckpt is None:
        raise click.UsageError(
            f"unknown options {' '.join(lightning_args)} (only --ckpt passes "
            "options on to LightningCLI)"
        )
    sampling = {
        "--steps": steps, "--frames": frames, "--cfg-text": cfg_text, "--cfg-audio": cfg_audio
    }  # fmt: skip
    if ckpt is None and any(v is not None for v in sampling.values()):
        given = " ".join(k for k, v in sampling.items() if v is not None)
        raise click.UsageError(f"{given}: sampling options apply to --ckpt only")
    for option, path in (
        ("--inception", inception),
        ("--i3d", i3d),
        ("--syncnet", syncnet),
        ("--ase-head", ase_head),
    ):
        if path is not None and not path.is_file():
            raise click.UsageError(f"{option}: no such file {path}; pass a local weights file")
    if ase_clip is not None and not ase_clip.exists():
        raise click.UsageError(
            f"--ase-clip: no such file or folder {ase_clip}; pass a local open_clip model"
        )
    try:
        options = EvalOptions(
            inception=inception,
            i3d=i3d,
            syncnet=syncnet,
            ase_clip=ase_clip,
            ase_head=ase_head,
            scorers=scorers,
            scorer_stride=scorer_stride,
            fps=fps,
            batch=batch,
            fid_stride=fid_stride,
            max_seconds=max_seconds,
            landmark_sync=not no_landmark_sync,
            hands=not no_hands,
            device=device,
        )
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    try:
        with native_messages_to(out / "native.log"):  # mediapipe's and TFLite's C++ log lines
            if ckpt is not None:
                from omni.evaluation.lightning import evaluate_checkpoint, sampling_defaults

                if frames is not None:
                    lightning_args = (*lightning_args, "--data.test_frames", str(frames))
                metrics = evaluate_checkpoint(
                    ckpt, data, out, options, stage, preset, lightning_args,
                    sampling_defaults(steps, cfg_text, cfg_audio),
                )  # fmt: skip
            else:
                from omni.evaluation.run import evaluate_folders

                metrics = evaluate_folders(generated, real, out, options)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    _print_summary(metrics, out)


def _print_summary(metrics: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="omni test")
    for column in ("metric", "generated", "real", "samples / note"):
        table.add_column(column)
    for name, m in metrics["metrics"].items():
        if m.get("status") == "ok":
            count = m.get("generated_samples", m.get("videos"))
            real = m.get("real_value")
            table.add_row(
                name,
                f"{m['value']:.4g}",
                "" if real is None else f"{real:.4g}",
                f"{count} {m.get('unit', 'videos')}",
            )
        else:
            note = m.get("reason", "")
            if m.get("enable_with"):
                note += f" (enable with {m['enable_with']})"
            table.add_row(name, m["status"], "", note)
    console = Console()
    console.print(table)
    skipped = metrics.get("skipped", [])
    if skipped:
        console.print(f"[yellow]{len(skipped)} file(s) skipped[/] (reasons in metrics.json)")
    console.print(f"wrote {out / 'metrics.json'} and {out / 'report.html'}")
