"""The curation pose passes against a 25 fps reference: the first (sparse, 1 fps) pass without
and with mediapipe's smoothing, the dense (12.5 fps) pass with its frames' real times and with
mediapipe's assumed 1/30 s spacing, and what the first pass costs per clip.

    .venv/bin/python bench/bench_pose_passes.py [--fixtures s13,dance,s32,talk_news_b,d12]
                                                 [--seconds 8]

Per fixture clip: the first `--seconds` at 25 fps, the longer side 640 px (the scorers' frames).
The reference is `omni.pose.PoseEstimator` (smoothed) on every frame with the real times: an
estimate, not ground truth, but one that sees the motion between the passes' frames. For each
pass, on its own frames: the median and 90th-percentile distance (pixels of the 640-px frame) of
the body joints the reference sees (visibility > 0.5), and the mean body visibility (the
reference's at the same frames beside it). "smoothed, 1/30 s" is what omni.pose did before pose
scorer version 5. Cost: CPU ms per clip of the first pass, the graph built once and reset per
clip (restart for the smoothed graph, a blank frame for the unsmoothed one), over the clips
in turn, 3 rounds. Prints figures (recorded in docs/curation.md); nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from bench_hands import frames_of

from omni import pose
from omni.nativelog import native_messages_to


def errors(kp: pose.Keypoints, ref: pose.Keypoints, scale: np.ndarray) -> str:
    body = slice(0, pose.NUM_BODY)
    seen = ref.conf[:, body] > 0.5
    dist = np.linalg.norm((kp.xy[:, body] - ref.xy[:, body]) * scale, axis=-1)[seen]
    return f"{np.median(dist):4.1f} / {np.percentile(dist, 90):4.1f} px"


def visibility(kp: pose.Keypoints) -> float:
    return float(kp.conf[:, : pose.NUM_BODY].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default="s13,dance,s32,talk_news_b,d12")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M UTC', time.gmtime())}")
    clips = {}
    with native_messages_to(os.devnull):
        smoothed, plain = pose.PoseEstimator(smooth=True), pose.PoseEstimator(smooth=False)
        print("clip        | first pass (1 fps) vs reference, median / p90; visibility (ref)"
              "                      | dense pass (12.5 fps) vs reference")  # fmt: skip
        print("            | smoothed, 1/30 s           | unsmoothed (omni)          "
              "| reference | 1/30 s            | real times (omni)")  # fmt: skip
        for name in args.fixtures.split(","):
            frames = frames_of(name, args.seconds, 25.0)
            times = np.arange(len(frames)) / 25.0
            h, w = frames.shape[1:3]
            scale = np.array([w, h], np.float32)
            smoothed.reset()
            ref = smoothed(frames, times)
            sparse = np.arange(0, len(frames), 25)
            clips[name] = frames[sparse]
            smoothed.reset()
            old_first = smoothed(frames[sparse])  # no times: 1/30 s apart, as before
            plain.reset()
            new_first = plain(frames[sparse], times[sparse])
            smoothed.reset()
            old_dense = smoothed(frames[::2])
            smoothed.reset()
            new_dense = smoothed(frames[::2], times[::2])
            print(f"{name:11s} | {errors(old_first, ref[sparse], scale)}, {visibility(old_first):.3f}"
                  f" | {errors(new_first, ref[sparse], scale)}, {visibility(new_first):.3f}"
                  f" | {visibility(ref[sparse]):.3f}    "
                  f" | {errors(old_dense, ref[::2], scale)} | {errors(new_dense, ref[::2], scale)}")  # fmt: skip
        cost = {}
        for label, estimator in (("smoothed, restart", smoothed), ("unsmoothed, blank", plain)):
            start, n = time.process_time(), 0
            for _ in range(3):
                for frames in clips.values():
                    estimator.reset()
                    estimator(frames)
                    n += 1
            cost[label] = (time.process_time() - start) / n * 1e3
    frames_per_clip = np.mean([len(f) for f in clips.values()])
    print(f"first pass CPU per clip ({frames_per_clip:.1f} frames, reset included): "
          + ", ".join(f"{k} {v:.0f} ms" for k, v in cost.items()))  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    main()
