"""`omni demo`: the whole pipeline on the built-in synthetic world, with measured effects."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("omni-demo"),
    show_default=True,
    help="Folder for the data, checkpoints, videos and reports (re-running reuses what is there).",
)
@click.option(
    "--quick", is_flag=True, help="CI-sized run: fewer, shorter clips, fewer steps (<= 3 min)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic world.")
@click.option(
    "--ablate-audio-ratio",
    default="",
    metavar="R1,R2,...",
    help="Re-train the audio stage with each audio ratio (e.g. 0.1,0.5,1.0) and measure the "
    "audio effect of each: the paper's ratio study at this scale.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="torch threads. 1 is fastest on a shared machine: with more threads than free cores, "
    "every parallel op waits for a descheduled thread (training steps measured 5-10x slower "
    "with 2 threads than 1 under load 10 on 2 cores).",
)
def demo(out: Path, quick: bool, seed: int, ablate_audio_ratio: str, threads: int) -> None:
    """Run omni end to end on built-in synthetic people and measure what each condition does.

    Makes the synthetic data, measures on held-out clips whether audio steers the mouth, pose the
    body and the reference the identity (effect sizes with confidence intervals), prints a summary
    table and writes OUT/report.html linking every output. Exits non-zero if a step failed.
    """
    import torch

    from omni.demo.pipeline import DemoConfig, run_demo
    from omni.nativelog import native_messages_to

    torch.set_num_threads(threads)

    ratios = parse_ratios(ablate_audio_ratio)
    with native_messages_to(out / "native.log"):  # mediapipe's and TFLite's C++ log lines
        run = run_demo(DemoConfig(out=out, quick=quick, seed=seed, ablate_audio_ratio=ratios))
    click.echo(f"report: {run.outputs['report']}")
    failed = [s["name"] for s in run.steps if s["status"] == "failed"]
    if failed:
        raise click.ClickException(
            f"demo steps failed: {', '.join(failed)} (see {out / 'demo.json'})"
        )


def parse_ratios(text: str) -> tuple[float, ...]:
    """'0.1,0.5,1.0' -> (0.1, 0.5, 1.0); each must be a number in [0, 1]."""
    if not text.strip():
        return ()
    ratios = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            raise click.UsageError(
                f"--ablate-audio-ratio expects comma-separated numbers in [0, 1] "
                f"(e.g. 0.1,0.5,1.0), got {part.strip()!r}"
            )
        ratios.append(value)
    return tuple(ratios)
