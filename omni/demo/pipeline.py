"""`omni demo` as a list of steps over one output folder, each timed and recorded.

A step that fails is recorded with its error and the steps that need its output are skipped, so
the report always says what ran. Steps resume: the data is cached by its arguments and each step
writes its outputs atomically.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from omni.demo.effects import Effect
from omni.manifest import read_manifest

# Demo data: talking faces for the audio claim and bodies for the pose claim; portraits train only.
DEMO_MIX = {"face": 0.55, "portrait": 0.1, "body": 0.35}
HEAD_MOTION = 0.0
"""Heads stay put (mouths, eyes and bodies still move): a world the tiny model can learn."""
FPS = 25.0
# Training and generation at the tiny preset, sized for a few hundred CPU steps (docs/demo.md):
NUM_FRAMES = 13
BATCH_SIZE = 4
DATA_WORKERS = 1  # decoding a batch (~0.3 s) runs beside the training step, on the other core
VAE_PATCH = 2  # 32 px frames as 16x16 cells of 2x2-pixel patches: 64 tokens per frame
LR = 3e-3
WARMUP = 20
TIMESTEP_MEAN = -0.5  # logit-normal training timesteps centred at t = 0.38: more of the low-noise
# steps where the fine detail (a mouth at 32 px) is decided
GENERATE_FRAMES = 25
MOTION_WEIGHT = ("--model.motion_weight", "30")
POSE_LR = 1e-3
AUDIO_RATIO = ("--data.ratios.audio", "1.0")
STAGE_ARGS = {
    "audio": (*MOTION_WEIGHT, *AUDIO_RATIO),
    "pose": ("--data.ratios.audio", "0.5", "--data.ratios.pose", "1.0", "--model.lr", str(POSE_LR)),
}
"""Per-stage options on top of `fit_args` (docs/demo.md, "Why these settings"). The audio stage
weights its loss toward what moves (`OmniModule.motion_weight`: a 32 px mouth is ~1 % of the frame)
and has audio on in every sample of its talking-face clips (`STAGE_MANIFEST`). The pose stage
fine-tunes at a third of the learning rate with the plain MSE (at the full rate it erased the audio
use), with pose on in every pose-eligible sample (at the stage's 0.5 it saw ~200 posed samples in
300 steps and its effect was weak) and audio at the audio stage's paper ratio: faces are never
pose-eligible, so the stage's halved 0.25 would starve the audio path."""
STAGE_MANIFEST = {"audio": "curated audio train manifest"}
"""The audio stage trains on the audio-eligible train clips whose face fills at least
`AUDIO_MIN_FACE_AREA` of the frame, every sample with its audio on (`AUDIO_RATIO`); the other stages
train on every curated train clip. A talking body's face is ~7 % of the frame, its lips a pixel at
32 px; faces (~34 %) and portraits (~22 %) show them. On the mixed manifest at ratio 0.5 the stage
saw ~650 samples of a talking face with its audio on in 600 steps and the model ignored audio
(docs/demo.md, "Why these settings"); with ~2400 it uses it."""
AUDIO_MIN_FACE_AREA = 0.1
MIN_AUDIO_CLIPS = 2 * BATCH_SIZE  # full batches after the validation split (`--quick` has 4)
SCORERS = "face,lipsync,pose,quality,speech"
"""The scorers `omni curate filter` reads (aesthetics and motion feed no threshold)."""
SCORE_FPS = 25.0  # landmark lip sync finds no offset in 2 s clips at 12.5 fps


@dataclass
class DemoConfig:
    """What `omni demo` runs; `quick` is the CI-sized run (<= 3 minutes on 2 cores)."""

    out: Path
    """Folder for every output (data, manifests, checkpoints, videos, reports)."""
    quick: bool = False
    """Fewer, shorter clips and fewer training steps."""
    seed: int = 0
    """Seed of the synthetic world and of training."""
    ablate_audio_ratio: tuple[float, ...] = ()
    """Audio ratios to re-train the audio stage with (from the same text_ref checkpoint)."""

    def stage_steps(self) -> dict[str, int]:
        """Training steps per stage, in order (each stage starts from the previous one)."""
        if self.quick:
            return {"text_ref": 10, "audio": 15, "pose": 5}
        return {"text_ref": 250, "audio": 600, "pose": 300}

    def num_frames(self) -> int:
        """Frames per training window (and per generated segment)."""
        return NUM_FRAMES

    def fit_args(self) -> list[str]:
        """LightningCLI options every stage gets on top of the tiny preset (see docs/demo.md)."""
        return [
            "--data.num_frames", str(self.num_frames()),
            "--data.batch_size", str(BATCH_SIZE),
            "--data.num_workers", str(DATA_WORKERS),
            "--model.network.vae_patch", str(VAE_PATCH),
            "--model.lr", str(LR),
            "--model.warmup_steps", str(WARMUP),
            "--model.timesteps.mean", str(TIMESTEP_MEAN),
            "--model.trainable", "[mmdit.*]",
            "--checkpoint.every_n_train_steps", "100000",
        ]  # fmt: skip

    def sample_steps(self) -> int:
        return 4 if self.quick else 8

    def generate_seconds(self) -> float:
        """Length of each generation (and of the calibration clips): 1 s = 25 frames keeps the
        lip-sync correlation meaningful (its lag search needs a dozen frames either side)."""
        return GENERATE_FRAMES / FPS

    def settings(self) -> dict:
        """What this run trains and generates with (recorded in demo.json)."""
        import torch

        return {
            "data": self.data_args(),
            "mix": DEMO_MIX,
            "curate": {"scorers": SCORERS, "fps": SCORE_FPS},
            "stage_manifests": STAGE_MANIFEST,
            "audio_min_face_area": AUDIO_MIN_FACE_AREA,
            "stage_steps": self.stage_steps(),
            "fit_args": self.fit_args(),
            "stage_args": {k: list(v) for k, v in STAGE_ARGS.items()},
            "sample_steps": self.sample_steps(),
            "generate_seconds": self.generate_seconds(),
            "torch_threads": torch.get_num_threads(),
        }

    def data_args(self) -> dict:
        common = dict(size=128, clips_per_identity=2, head_motion=HEAD_MOTION)
        if self.quick:
            return dict(n_clips=10, seconds=2.0, held_out=4, **common)
        return dict(n_clips=42, seconds=2.0, held_out=16, **common)


@dataclass
class DemoRun:
    """State shared by the steps of one run."""

    config: DemoConfig
    steps: list[dict] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    effects: dict[str, list[Effect]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    videos: list[tuple[str, Path]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    checkpoint: Path | None = None

    @property
    def out(self) -> Path:
        return self.config.out


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[DemoRun], str]  # returns a one-line note
    needs: tuple[str, ...] = ()


def step_data(run: DemoRun) -> str:
    from omni.demo.synth import make_demo_dataset

    args = run.config.data_args()
    train = make_demo_dataset(run.out / "data", seed=run.config.seed, mix=DEMO_MIX, **args)
    run.outputs |= {
        "train manifest": train,
        "held-out manifest": train.with_name("heldout.parquet"),
        "all clips manifest": train.with_name("all.parquet"),
    }
    held = args["held_out"]
    heldout = read_manifest(train.with_name("heldout.parquet"))
    for row in heldout.df.itertuples():
        run.videos.append((f"{row.clip_id}: true held-out clip", Path(heldout.resolve(row.source))))
    return f"{args['n_clips'] - held} train + {held} held-out clips of {args['seconds']} s at {args['size']} px"


def step_calibration(run: DemoRun) -> str:
    """The measures on the true held-out clips: what a perfect generator would score."""
    from omni.demo.proof import measure, true_samples

    samples = true_samples(run.outputs["held-out manifest"], seconds=run.config.generate_seconds())
    found = measure(samples)
    run.effects["Calibration: the measures on the true held-out clips (a perfect generator)"] = (
        found
    )
    return f"{len(samples)} held-out clips measured"


def step_curate(run: DemoRun) -> str:
    """`omni curate probe → score → filter → report`; the curated manifests feed training."""
    from omni.demo.curate import curate, eligibility

    found = curate(
        run.out / "data", run.out / "curate", workers=2, fps=SCORE_FPS, log=run.commands,
        scorers=SCORERS, audio_min_face_area=AUDIO_MIN_FACE_AREA,
    )  # fmt: skip
    run.outputs |= {
        "curated train manifest": found["train"],
        "curated audio train manifest": audio_stage_manifest(
            found["train"], found["train_audio"], run.notes
        ),
        "curated held-out manifest": found["heldout"],
        "curation report": found["report"],
    }
    counts = eligibility(found["curated"])
    train = counts.loc["train"] if "train" in counts.index else None
    if train is None:
        return "no train rows curated"
    return (
        f"train clips eligible: text+ref {train.eligible_text_ref}, audio {train.eligible_audio}, "
        f"pose {train.eligible_pose}"
    )


def audio_stage_manifest(train: Path, talking: Path, notes: list[str]) -> Path:
    """The audio stage's manifest: the talking-face clips (`talking`) when there are enough of
    them for training batches and a validation clip, else every train clip (with a note)."""
    n = len(read_manifest(talking).df)
    if n >= MIN_AUDIO_CLIPS:
        return talking
    notes.append(
        f"Only {n} audio-eligible train clips have a face of >= {AUDIO_MIN_FACE_AREA:.0%} of the "
        f"frame (the audio stage needs {MIN_AUDIO_CLIPS}): it trains on every curated train clip."
    )
    return train


def step_fit(run: DemoRun) -> str:
    """`omni fit` text_ref → audio → pose at the tiny preset on the curated train manifest (the
    audio stage on its talking-face clips, `STAGE_MANIFEST`)."""
    from omni.demo.training import StagePlan, fit_stage, plot_curves

    previous = None
    roots = {}
    for stage, steps in run.config.stage_steps().items():
        manifests = [run.outputs[STAGE_MANIFEST.get(stage, "curated train manifest")]]
        extra = (*run.config.fit_args(), *STAGE_ARGS.get(stage, ()))
        plan = StagePlan(stage, steps, run.out / "runs" / stage, extra=extra)
        run.commands.append(
            f"omni fit --stage {stage} --preset tiny"
            + (f" --init-from {previous}" if previous else "")
            + " "
            + " ".join(plan.args(manifests, run.config.seed))
        )
        previous = fit_stage(plan, manifests, run.config.seed, previous)
        roots[stage] = plan.root
        run.outputs[f"checkpoint ({stage})"] = previous
    run.checkpoint = previous
    curves = plot_curves(roots, run.out / "training_curves.png")
    if curves is not None:
        run.outputs["training curves"] = curves
    return ", ".join(f"{s} {n} steps" for s, n in run.config.stage_steps().items())


def step_generate(run: DemoRun) -> str:
    """OmniPipeline on held-out identities: own audio/pose, and other audio for faces."""
    from omni.demo.generation import plan_jobs, run_jobs

    heldout = read_manifest(run.outputs["curated held-out manifest"])
    jobs = plan_jobs(heldout, run.out / "data", run.out / "generated")
    made = run_jobs(
        run.checkpoint, jobs, steps=run.config.sample_steps(), seed=run.config.seed,
        seconds=run.config.generate_seconds(),
    )  # fmt: skip
    for job in jobs:
        tag = {"own": "own audio" + (" + pose" if job.pose else ""), "other_audio": "other audio"}
        tag = tag.get(job.out.parent.name, "own audio + other pose")
        run.videos.append((f"{job.clip_id}: generated, {tag}", job.out))
    run.outputs["generated videos"] = run.out / "generated"
    return f"{len(jobs)} videos ({made} made now, {run.config.sample_steps()} sampling steps)"


def step_effects(run: DemoRun) -> str:
    """The three claims measured on the generations."""
    from omni.demo.generation import generated_samples
    from omni.demo.proof import measure

    samples = generated_samples(run.outputs["curated held-out manifest"], run.out / "generated")
    run.effects["omni on held-out identities and audio"] = measure(samples)
    return f"{len(samples)} held-out generations measured"


def step_test(run: DemoRun) -> str:
    """`omni test --generated --real` on the own-condition generations."""
    import shutil

    from omni.demo.curate import run_command
    from omni.evaluation.cli import test

    heldout = read_manifest(run.outputs["curated held-out manifest"])
    real = run.out / "real_heldout"
    real.mkdir(parents=True, exist_ok=True)
    for source in heldout.ok().source:
        target = real / Path(source).name
        if not target.exists():
            shutil.copy2(heldout.resolve(source), target)
    out = run.out / "eval"
    run_command(
        test,
        ["--generated", str(run.out / "generated" / "own"), "--real", str(real), "--out", str(out),
         "--max-seconds", f"{run.config.generate_seconds():g}"],
        run.commands,
    )  # fmt: skip
    run.outputs |= {
        "metrics (omni test)": out / "metrics.json",
        "evaluation report": out / "report.html",
    }
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    by_status: dict[str, list[str]] = {}
    for name, m in metrics.items():
        by_status.setdefault(m.get("status", "?"), []).append(name)
    return "; ".join(f"{status}: {', '.join(names)}" for status, names in sorted(by_status.items()))


def step_ablation(run: DemoRun) -> str:
    """The paper's audio-ratio study at this scale: the audio stage re-trained per ratio from the
    same text_ref checkpoint, then the audio claim measured on held-out faces."""
    from omni.demo.generation import generated_samples, plan_jobs, run_jobs
    from omni.demo.proof import measure
    from omni.demo.training import StagePlan, fit_stage

    manifests = [run.outputs[STAGE_MANIFEST["audio"]]]
    heldout_path = run.outputs["curated held-out manifest"]
    heldout = read_manifest(heldout_path)
    start = run.outputs["checkpoint (text_ref)"]
    steps = run.config.stage_steps()["audio"]
    for ratio in run.config.ablate_audio_ratio:
        root = run.out / "ablation" / f"audio_{ratio:g}"
        extra = (*run.config.fit_args(), *STAGE_ARGS["audio"], "--data.ratios.audio", str(ratio))
        plan = StagePlan("audio", steps, root / "runs", extra=extra)
        run.commands.append(
            f"omni fit --stage audio --preset tiny --init-from {start} "
            + " ".join(plan.args(manifests, run.config.seed))
        )
        ckpt = fit_stage(plan, manifests, run.config.seed, start)
        jobs = [
            j for j in plan_jobs(heldout, run.out / "data", root / "generated") if j.kind == "face"
        ]
        run_jobs(
            ckpt, jobs, steps=run.config.sample_steps(), seed=run.config.seed,
            seconds=run.config.generate_seconds(),
        )  # fmt: skip
        samples = [
            s for s in generated_samples(heldout_path, root / "generated") if s.kind == "face"
        ]
        found = [e for e in measure(samples) if e.name == "audio steers the mouth"]
        run.effects[f"Audio-ratio ablation: audio stage trained with audio ratio {ratio:g}"] = found
    return f"audio ratios {', '.join(f'{r:g}' for r in run.config.ablate_audio_ratio)}"


STEPS: list[Step] = [
    Step("data", step_data),
    Step("calibration", step_calibration, needs=("data",)),
    Step("curate", step_curate, needs=("data",)),
    Step("fit", step_fit, needs=("curate",)),
    Step("generate", step_generate, needs=("fit",)),
    Step("effects", step_effects, needs=("generate",)),
    Step("test", step_test, needs=("generate",)),
]


def run_demo(config: DemoConfig, steps: list[Step] | None = None) -> DemoRun:
    """Run every step in order (recording failures), then write the summary and report."""
    from omni.demo.report import print_summary, write_html, write_json

    run = DemoRun(config)
    config.out.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    if steps is None:
        steps = STEPS + (
            [Step("ablation", step_ablation, needs=("fit",))] if config.ablate_audio_ratio else []
        )
    for step in steps:
        missing = [n for n in step.needs if n not in done]
        start = time.perf_counter()
        record = {"name": step.name, "status": "skipped", "seconds": 0.0}
        if missing:
            record["note"] = f"needs {', '.join(missing)}"
        else:
            try:
                record["note"] = step.run(run)
                record["status"] = "ok"
                done.add(step.name)
            except Exception as err:  # one step failing must not lose the report of the others
                record["status"] = "failed"
                record["note"] = f"{type(err).__name__}: {err}"
                record["traceback"] = traceback.format_exc()
        record["seconds"] = time.perf_counter() - start
        run.steps.append(record)
    summary = {
        "quick": config.quick,
        "seed": config.seed,
        "ablate_audio_ratio": list(config.ablate_audio_ratio),
        "settings": config.settings(),
        "steps": run.steps,
        "effects": {title: [e.to_dict() for e in found] for title, found in run.effects.items()},
        "outputs": {k: str(v) for k, v in run.outputs.items()},
        "notes": run.notes,
        "commands": run.commands,
    }
    run.outputs["summary (demo.json)"] = write_json(config.out / "demo.json", summary)
    report = write_html(
        config.out / "report.html", run.steps, run.effects, run.outputs, run.videos, run.notes
    )
    print_summary(run.steps, run.effects)
    run.outputs["report"] = report
    return run
