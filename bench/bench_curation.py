"""Curation speed: default scorers vs. a bare PyAV decode of the same frames, and 2 workers vs 1.

    .venv/bin/python bench/bench_curation.py [--clips 8] [--seconds 4] [--dense-pose-fps 12.5]
                                             [--no-workers] [--fixtures talk_news_b,s13]
                                             [--upscale 720,1440] [--start 0]
                                             [--scorers pose]

Per clip: the bare decode (omni.media.read_video at 25 fps, native size) of the clip's frames,
then `score_task` with the default scorers on the same clip (warm: the process has already scored
one clip, so models are loaded), each the best of 3 runs, with the time of each part; wall time
and the process's CPU time (all its threads: the work done, which a shared machine's load does
not inflate as much), their ratios to the decode's, and the busy cores (CPU / wall: above 1 when
threads overlap, below 1 when other processes take the cores).
`score_task` in one process overlaps the decode, face track, first pose pass and audio decode,
then the dense pose pass with the rest (score.OVERLAP); pool workers do not. Workers: the same N
clips through a spawn process pool of 1 and of 2 single-threaded workers: from the pool's start
(worker start-up and model loading included), and warm (each worker has scored one clip first,
so its mediapipe graphs are built), the CPU time the workers spent in `score_task` (if it grows with 2
workers, the cores slow each other down; if the wall time exceeds it / workers, the workers wait)
and the threads a worker has. For reference, the speed-up the same pools get right now on work
that is not this project's (a pure-Python loop, bare decodes): what the machine allows.
`--fixtures` picks the clips of the per-clip figures (any of ../shared/fixtures/footage, names
without .mp4); `--upscale N,...` adds talk_news_b's first `--seconds` re-encoded (h264, CRF 18,
with its audio) with the longer side N (1440: as many pixels as 1920x1080): the same content at a source resolution where decoding costs
more, while the scorers still work on frames of at most 640 px (ScoreConfig.max_side). `--start S`:
every clip starts S seconds into its file (as clips from `omni curate split` do: the decoder
seeks to the keyframe before S and decodes from there). `--scorers a,b`: the per-clip figures
for these scorers only, as `omni curate score` runs them on a manifest where only their versions
are stale.
Prints figures (recorded in docs/benchmarks.md); nothing is asserted. The machine is shared:
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from omni.curation import runner
from omni.curation.runner import single_threaded
from omni.curation.score import score_task
from omni.curation.scorers import (
    DEFAULT_SCORERS,
    SCORERS,
    ScoreConfig,
    decode_clip,
    scorer_version,
)
from omni.media import read_audio, read_video, write_video

FIXTURES = Path(
    os.environ.get("OMNI_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)


START = 0.0  # where the clips start in their files (--start)
RUN = list(DEFAULT_SCORERS)  # the scorers timed per clip (--scorers)


def _task(source: Path, seconds: float, clip_id: str, config: ScoreConfig) -> dict:
    return {"clip_id": clip_id, "path": str(source), "start_s": START, "end_s": START + seconds,
            "scorers": list(RUN), "config": asdict(config),
            "versions": {n: scorer_version(n, config) for n in RUN}}  # fmt: skip


def upscaled(source: Path, seconds: float, side: int, out_dir: Path) -> Path:
    """`source`'s first `seconds` re-encoded with its longer side `side` (even sizes), with audio."""
    import cv2

    video = read_video(source, 0.0, seconds, 25.0)
    h, w = video.frames.shape[1:3]
    scale = side / max(h, w)
    size = (round(w * scale / 2) * 2, round(h * scale / 2) * 2)
    frames = [cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in video.frames]
    audio = read_audio(source, 16000, 0.0, seconds)
    out = out_dir / f"{source.stem}_{size[0]}x{size[1]}.mp4"
    return write_video(out, np.stack(frames), 25.0, audio, 16000)


def _timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def _cpu_timed(fn, *args):
    """(out, wall seconds, process CPU seconds)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t, time.process_time() - c


def _score_cpu(task: dict) -> tuple[float, int]:
    """A worker's CPU seconds in score_task for one clip (all its threads), and its thread count."""
    cpu = _cpu_timed(score_task, task)[2]
    return cpu, len(os.listdir("/proc/self/task"))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def per_clip(source: Path, seconds: float, config: ScoreConfig) -> None:
    task = _task(source, seconds, "warm-up", config)
    score_task(task)  # loads the models once, as a worker does for its first clip
    load = _load()
    span = (source, START, START + seconds, 25.0)
    decodes = [_cpu_timed(read_video, *span)[1:] for _ in range(3)]
    decode, decode_cpu = min(d[0] for d in decodes), min(d[1] for d in decodes)
    frames = read_video(*span).frames
    scores = [_cpu_timed(score_task, {**task, "clip_id": f"timed{i}"})[1:] for i in range(3)]
    total, total_cpu = min(t[0] for t in scores), min(t[1] for t in scores)
    clip, *t_decode = _cpu_timed(decode_clip, str(source), "parts", START, START + seconds, config)
    clip.mouth_needed = clip.audio is not None
    parts = {"decode": t_decode, "faces (detect+mesh)": _cpu_timed(lambda: clip.faces)[1:]}
    if hasattr(type(clip), "sparse_pose"):  # the older code has no separate first pass
        parts["sparse pose"] = _cpu_timed(lambda: clip.sparse_pose)[1:]
    for name in RUN:
        parts[name] = _cpu_timed(SCORERS[name](), clip, config)[1:]
    print(f"{source.name}: {len(frames)} frames {frames.shape[2]}x{frames.shape[1]}, {seconds} s"
          f" from {START} s"
          f" (load average {load} before, {_load()} after)")  # fmt: skip
    label = "default scorers" if list(DEFAULT_SCORERS) == RUN else "scorers " + ",".join(RUN)
    print(f"  wall: bare decode {decode:.2f} s; {label} {total:.2f} s "
          f"-> {total / decode:.1f}x decode, {total / seconds:.2f} s per clip-second")  # fmt: skip
    print(f"  CPU:  bare decode {decode_cpu:.2f} s; {label} {total_cpu:.2f} s "
          f"-> {total_cpu / decode_cpu:.1f}x")  # fmt: skip
    print(f"  busy cores (CPU / wall): bare decode {decode_cpu / decode:.2f}, "
          f"{label} {total_cpu / total:.2f}")  # fmt: skip
    print("  parts, one after another (wall / CPU s): "
          + ", ".join(f"{k} {w:.2f}/{c:.2f}" for k, (w, c) in parts.items()))  # fmt: skip


def _warm(task: dict) -> int:
    """Score one clip in this worker (its models load, and mediapipe builds its graphs on their
    first frame); its process id. Held a moment, so each worker gets one."""
    score_task(task)
    time.sleep(0.5)
    return os.getpid()


def _warm_all(pool: ProcessPoolExecutor, fn, item, workers: int) -> None:
    """Run `fn(item)` until every worker of `pool` has run it once."""
    warmed: set[int] = set()
    while len(warmed) < workers:
        warmed.update(pool.map(fn, [item] * workers))


def pool_time(tasks: list[dict], workers: int) -> tuple[float, float, float, int]:
    """(seconds from starting the pool to the last clip, including worker start-up and model
    loading; seconds for the clips once every worker has scored a clip; CPU seconds the warm
    workers spent scoring; the most threads a worker had)."""
    context = get_context("spawn")
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=single_threaded) as pool:
        list(pool.map(score_task, tasks, chunksize=1))
        cold = time.perf_counter() - start
    with ProcessPoolExecutor(workers, mp_context=context, initializer=single_threaded) as pool:
        _warm_all(pool, _warm, {**tasks[0], "clip_id": "warm-up"}, workers)
        warm = time.perf_counter()
        done = list(pool.map(_score_cpu, tasks, chunksize=1))
        end = time.perf_counter()
    cpu, threads = sum(d[0] for d in done), max(d[1] for d in done)
    return cold, end - warm, cpu, threads


def _spin(_: int) -> float:
    """A fixed piece of pure-Python CPU work (no memory traffic); its CPU seconds."""
    return _cpu_timed(sum, range(20_000_000))[2]


def _decode_cpu(source: str) -> float:
    return _cpu_timed(read_video, source, 0.0, 4.0, 25.0)[2]


def reference_speedup(fn, items: list) -> tuple[float, float]:
    """(speed-up of 2 workers over 1 on the same tasks, per-task CPU 2 vs 1 workers): what this
    machine gives two processes right now, for work that does not depend on this project."""
    walls, cpus = {}, {}
    context = get_context("spawn")
    for w in (1, 2):
        with ProcessPoolExecutor(w, mp_context=context, initializer=single_threaded) as pool:
            _warm_all(pool, _warm_ref, (fn, items[0]), w)
            start = time.perf_counter()
            cpus[w] = sum(pool.map(fn, items, chunksize=1))
            walls[w] = time.perf_counter() - start
    return walls[1] / walls[2], cpus[2] / cpus[1]


def _warm_ref(job: tuple) -> int:
    fn, item = job
    fn(item)
    time.sleep(0.5)
    return os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--dense-pose-fps", type=float, default=ScoreConfig.dense_pose_fps)
    parser.add_argument("--no-workers", action="store_true", help="per-clip figures only")
    parser.add_argument("--fixtures", default="talk_news_b,s13", help="clips for per-clip figures")
    parser.add_argument("--upscale", default="", help="also talk_news_b at these sizes (720,1440)")
    parser.add_argument("--start", type=float, default=0.0, help="clip start in the files (s)")
    parser.add_argument("--scorers", default=",".join(DEFAULT_SCORERS),
                        help="scorers of the per-clip figures (as a re-run of stale ones)")  # fmt: skip
    args = parser.parse_args()
    global START, RUN
    START, RUN = args.start, args.scorers.split(",")
    options = {}
    if args.dense_pose_fps != ScoreConfig.dense_pose_fps:  # the older code has no such option
        options["dense_pose_fps"] = args.dense_pose_fps
    config = ScoreConfig(keypoints_dir="/tmp/omni_bench_kp", **options)
    print(f"load average before: {_load()}, cpus: {os.cpu_count()}")
    keep = getattr(runner, "keep_freed_memory", None)  # as `--workers 1` does (new code only)
    print(f"this process keeps freed memory (runner.keep_freed_memory): {bool(keep and keep())}")
    sources = [FIXTURES / "footage" / f"{name}.mp4" for name in args.fixtures.split(",") if name]
    with tempfile.TemporaryDirectory(prefix="omni_bench_") as out_dir:
        for side in (int(x) for x in args.upscale.split(",") if x):
            talk = FIXTURES / "footage" / "talk_news_b.mp4"
            sources.append(upscaled(talk, START + args.seconds, side, Path(out_dir)))
        for source in sources:
            per_clip(source, args.seconds, config)
    if args.no_workers:
        return
    source = FIXTURES / "footage" / "talk_news_b.mp4"
    tasks = [_task(source, args.seconds, f"c{i}", config) for i in range(args.clips)]
    timings = {}
    for w in (1, 2):
        load = _load()
        timings[w] = pool_time(tasks, w)
        cold, warm, cpu, threads = timings[w]
        print(f"{w} worker(s), {len(tasks)} clips of {args.seconds} s: {cold:.1f} s with start-up,"
              f" {warm:.1f} s warm; workers' CPU in score_task {cpu:.1f} s"
              f" ({cpu / len(tasks):.2f} s per clip), {cpu / warm:.2f} cores busy on average;"
              f" {threads} threads per worker (load average {load} before, {_load()} after)")  # fmt: skip
    print(f"speed-up 2 vs 1 workers: {timings[1][0] / timings[2][0]:.2f}x with start-up, "
          f"{timings[1][1] / timings[2][1]:.2f}x warm; per-clip CPU 2 vs 1 workers: "
          f"{timings[2][2] / timings[1][2]:.2f}x")  # fmt: skip
    load = _load()
    spin = reference_speedup(_spin, list(range(args.clips)))
    decode = reference_speedup(_decode_cpu, [str(source)] * args.clips)
    print(f"machine reference, same pools: 2 vs 1 workers {spin[0]:.2f}x on a pure-Python loop"
          f" (per-task CPU {spin[1]:.2f}x), {decode[0]:.2f}x on bare decodes (CPU {decode[1]:.2f}x)"
          f" (load average {load} before, {_load()} after)")  # fmt: skip
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
