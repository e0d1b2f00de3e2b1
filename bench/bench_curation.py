"""Curation speed: default scorers vs. a bare PyAV decode of the same frames, and 2 workers vs 1.

    .venv/bin/python bench/bench_curation.py [--clips N]

Prints figures (recorded in docs/benchmarks.md); nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict
from pathlib import Path

from omni.curation.runner import _local
from omni.curation.score import score_task
from omni.curation.scorers import DEFAULT_SCORERS, ScoreConfig
from omni.media import read_video

FIXTURES = Path(
    os.environ.get("OMNI_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=4)
    args = parser.parse_args()
    source = FIXTURES / "footage" / "talk_news_b.mp4"
    config = ScoreConfig(keypoints_dir="/tmp/omni_bench_kp")
    tasks = [
        {"clip_id": f"c{i}", "path": str(source), "start_s": 0.0, "end_s": 4.0,
         "scorers": list(DEFAULT_SCORERS), "config": asdict(config)}
        for i in range(args.clips)
    ]  # fmt: skip
    print(f"load average before: {os.getloadavg()}")
    t = time.perf_counter()
    frames = read_video(source, 0.0, 4.0, fps=config.fps).frames
    decode = time.perf_counter() - t
    t = time.perf_counter()
    score_task(tasks[0])
    score = time.perf_counter() - t
    print(f"bare decode of {len(frames)} frames (4.0 s of clip): {decode:.2f} s")
    print(f"default scorers on the same 4.0 s: {score:.2f} s -> ratio {score / decode:.1f}x decode")
    print(f"scoring: {score / 4.0:.2f} s per clip-second")
    timings = {}
    for workers in (1, 2):
        t = time.perf_counter()
        list(_local(score_task, tasks, workers))
        timings[workers] = time.perf_counter() - t
        print(f"{workers} worker(s), {len(tasks)} clips: {timings[workers]:.1f} s")
    print(f"speed-up 2 vs 1 workers: {timings[1] / timings[2]:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
