"""`omni generate`: one video from a reference and driving inputs, or many from a jobs CSV."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

log = logging.getLogger(__name__)
console = Console(stderr=True)

SCHEDULES = ("constant", "linear", "cosine")


def _resolution(value: str | None) -> tuple[int, int] | None:
    """'WIDTHxHEIGHT' -> (height, width)."""
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError as err:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 512x512, got {value!r}") from err
    if w <= 0 or h <= 0:
        raise click.BadParameter(f"width and height must be positive, got {value!r}")
    return h, w


@click.command("generate")
@click.option(
    "--model",
    "model_dir",
    type=click.Path(),
    help="OmniModel directory (config.json + model.safetensors).",
)
@click.option(
    "--ckpt",
    type=click.Path(),
    help="Lightning checkpoint of `omni fit` (its EMA weights are used).",
)
@click.option(
    "--ref", type=click.Path(), help="Reference picture: an image, or a video (its first frame)."
)
@click.option(
    "--audio", type=click.Path(), help="Driving audio: wav, mp3, m4a, ... or a video's audio track."
)
@click.option(
    "--pose",
    type=click.Path(),
    help="Driving pose: a video (keypoints estimated) or a keypoints .npz.",
)
@click.option("--text", default=None, help="Text prompt (default: empty).")
@click.option("--out", type=click.Path(), help="Output .mp4 (a .drift.json is written beside it).")
@click.option(
    "--batch",
    "jobs",
    type=click.Path(),
    help="Jobs CSV, one row per video (ref, out, ...); resumes.",
)
@click.option(
    "--seconds", type=float, help="Length; default the audio's, else the pose's, else one segment."
)
@click.option("--steps", type=int, default=30, show_default=True, help="Sampler steps per segment.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Noise seed (same seed, same video)."
)
@click.option("--fps", type=float, help="Output frame rate; default the model's training rate.")
@click.option("--resolution", help="WIDTHxHEIGHT; default the model's training size.")
@click.option("--solver", type=click.Choice(["euler", "heun"]), default="euler", show_default=True)
@click.option(
    "--cfg-text",
    type=float,
    default=2.0,
    show_default=True,
    help="Text guidance scale at the first step.",
)
@click.option(
    "--cfg-text-end",
    type=float,
    default=1.0,
    show_default=True,
    help="Text guidance scale at the last step.",
)
@click.option(
    "--cfg-audio",
    type=float,
    default=3.0,
    show_default=True,
    help="Audio guidance scale at the first step.",
)
@click.option(
    "--cfg-audio-end",
    type=float,
    default=1.0,
    show_default=True,
    help="Audio guidance scale at the last step.",
)
@click.option(
    "--cfg-schedule",
    type=click.Choice(SCHEDULES),
    default="cosine",
    show_default=True,
    help="Annealing from start to end scale.",
)
@click.option(
    "--pose-fit",
    type=click.Choice(["hold", "trim"]),
    default="hold",
    show_default=True,
    help="Pose shorter than the video: hold its last frame, or trim the video.",
)
@click.option(
    "--segment-frames",
    type=int,
    help="Frames per segment (1 + 4k); default the model's training window.",
)
@click.option(
    "--no-watermark",
    is_flag=True,
    help="Research only: skip the invisible watermark (recorded in the metadata).",
)
@click.option(
    "--sign-key",
    type=click.Path(),
    help="PEM private key: also sign a C2PA manifest (with --sign-cert).",
)
@click.option("--sign-cert", type=click.Path(), help="PEM certificate chain for --sign-key.")
@click.option("--no-face-check", is_flag=True, help="Do not warn when the reference shows no face.")
@click.option("--device", help="torch device; default cuda when available, else cpu.")
def generate(model_dir, ckpt, jobs, out, **options: Any) -> None:
    """Animate the person in --ref, driven by --audio, --pose and/or --text, into --out."""
    from omni.generate.batch import read_jobs
    from omni.nativelog import native_messages_held

    if (model_dir is None) == (ckpt is None):
        raise click.UsageError("give exactly one of --model DIR or --ckpt CKPT")
    if jobs is None and (options["ref"] is None or out is None):
        raise click.UsageError("--ref and --out are required (or --batch jobs.csv)")
    if jobs is not None and (options["ref"] is not None or out is not None):
        raise click.UsageError("--batch takes ref and out from the CSV; drop --ref/--out")
    # mediapipe's and TFLite's C++ log lines (face check, pose from a video): only on a crash
    with native_messages_held(expected=(click.ClickException,)):
        try:
            job_list = read_jobs(jobs) if jobs is not None else None
            pipe = _load(model_dir, ckpt, options)
            if job_list is None:
                _run_one(pipe, dict(options, out=Path(out)), show_progress=True)
                return
        except ValueError as err:
            raise click.ClickException(str(err)) from err
        _run_batch(pipe, jobs, job_list, options)


def _load(model_dir: str | None, ckpt: str | None, options: dict):
    from omni.generate.pipeline import OmniPipeline

    with console.status("loading the model"):
        if model_dir is not None:
            pipe = OmniPipeline.from_pretrained(model_dir, device=options["device"])
        else:
            pipe = OmniPipeline.from_checkpoint(ckpt, device=options["device"])
    if options["segment_frames"] is not None:
        pipe.defaults.segment_frames = options["segment_frames"]
    return pipe


def _run_one(pipe, values: dict, show_progress: bool) -> Path:
    """Generate and write one video; values are the CLI options overridden by a job's row."""
    from omni.generate.pipeline import Guidance, save_video

    out = Path(values["out"])
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"--out must name an .mp4 file, got {str(out)!r}")
    resolution = values["resolution"]
    result = pipe(
        ref=values["ref"],
        audio=values.get("audio"),
        pose=values.get("pose"),
        text=values.get("text"),
        seconds=values.get("seconds"),
        cfg=Guidance(
            text=values["cfg_text"],
            text_end=values["cfg_text_end"],
            audio=values["cfg_audio"],
            audio_end=values["cfg_audio_end"],
            schedule=values["cfg_schedule"],
        ),
        steps=values["steps"],
        seed=values["seed"],
        fps=values.get("fps"),
        resolution=_resolution(resolution) if isinstance(resolution, str) else resolution,
        solver=values["solver"],
        pose_fit=values["pose_fit"],
        check_face=not values["no_face_check"],
        progress=show_progress,
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    path = save_video(
        result,
        out,
        watermark=not values["no_watermark"],
        sign_key=values["sign_key"],
        sign_cert=values["sign_cert"],
    )
    console.print(
        f"wrote {path} ({len(result.frames)} frames, {result.seconds:.2f} s, "
        f"{'+'.join(result.conditions)}) in {result.stats['seconds']:.1f} s"
    )
    return path


def _run_batch(pipe, jobs_path: str, job_list: list, options: dict) -> None:
    from rich.progress import Progress

    from omni.generate.batch import JobOutcome, status_path, write_status

    outcomes: list[JobOutcome] = []
    status = status_path(jobs_path)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("jobs", total=len(job_list))
        for job in job_list:
            if job.out.exists():
                outcomes.append(JobOutcome(job.row, str(job.out), "skipped", "already finished"))
            else:
                started = time.perf_counter()
                try:
                    _run_one(pipe, {**options, **job.values}, show_progress=False)
                    took = time.perf_counter() - started
                    outcomes.append(JobOutcome(job.row, str(job.out), "done", seconds=took))
                except (ValueError, OSError, RuntimeError) as err:
                    console.print(f"[red]job {job.row} failed:[/red] {err}")
                    outcomes.append(JobOutcome(job.row, str(job.out), "failed", str(err)))
            write_status(status, outcomes)  # after every job, so an interrupted run is accounted
            bar.advance(task)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    console.print(
        f"{counts['done']} done, {counts['skipped']} already finished, {counts['failed']} failed "
        f"(see {status})"
    )
    if counts["failed"]:
        raise click.ClickException(
            f"{counts['failed']} of {len(job_list)} jobs failed; see {status}"
        )
