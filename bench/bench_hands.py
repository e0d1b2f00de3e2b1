"""Hands found by omni.pose (from the body) against mediapipe Hands' palm detector, and their cost;
with `--interpolation`, the error of the dense keypoint rates instead.

    .venv/bin/python bench/bench_hands.py [--fixtures s13,dance,s32] [--seconds 8] [--fps 12.5]
    .venv/bin/python bench/bench_hands.py --interpolation [--fixtures s13,dance] [--seconds 4]

Per fixture clip: frames at `--fps` (the dense keypoint rate) with the longer side 640 px (the
scorers' frame size). `omni.pose.PoseEstimator` finds each hand from its arm's pose landmarks;
the comparison is what omni.pose did before keypoints version 2: mediapipe Hands (palm detection,
then tracked hand landmarks; model_complexity 1, video mode) on the frames where pose sees a
wrist (visibility ≥ 0.3), each hand given to the nearer visible body wrist. For each: hands
found (of 2 per frame), how many of them sit within 0.05 (frame units) of their arm's body wrist,
and CPU ms per frame for pose + hands (graphs built once, reset per clip as in a worker); below,
the hand keypoints' wobble on the frames where both found the hand (`wobbles`).
`--interpolation`: omni.pose on every frame at 25 fps is the reference; passes at 12.5 and 6.25 fps
(every 2nd / 4th frame, each a run of its own, as the scorer's dense pass) are interpolated to the
skipped frames (`omni.pose.resample_keypoints`, as the datamodule does), and the distance to the
reference there, in pixels of the 640-px frame, where both are confident (body: visibility > 0.5;
hands: found), is given as median and 90th percentile, for the body and the hands. The estimator's
own wobble: the median distance of a reference keypoint from the midpoint of its two neighbours.
Prints figures (recorded in docs/curation.md); nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

from omni import pose
from omni.media import read_video
from omni.nativelog import native_messages_to

FIXTURES = Path(
    os.environ.get("OMNI_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)


def frames_of(name: str, seconds: float, fps: float) -> np.ndarray:
    clip = read_video(FIXTURES / "footage" / f"{name}.mp4", 0.0, seconds, fps=fps)
    h, w = clip.frames.shape[1:3]
    k = 640 / max(h, w)
    size = (round(w * k), round(h * k))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in clip.frames])


class PalmDetectorHands:
    """Body from omni.pose, hands from mediapipe Hands given to the nearer visible body wrist."""

    def __init__(self) -> None:
        import mediapipe as mp

        from omni.mpgraph import on_calling_thread

        self.body = pose.PoseEstimator(hands=False)
        self.hands = on_calling_thread(mp.solutions.hands.Hands)(
            static_image_mode=False, max_num_hands=2, model_complexity=1
        )

    def reset(self) -> None:
        self.body.reset()
        self.hands.reset()

    def __call__(self, frames: np.ndarray, times: np.ndarray) -> pose.Keypoints:
        kp = self.body(frames, times)
        wrists = {"left": pose.LEFT_WRIST, "right": pose.RIGHT_WRIST}
        parts = {"left": pose.LEFT_HAND, "right": pose.RIGHT_HAND}
        for t, frame in enumerate(frames):
            if kp.conf[t, [pose.LEFT_WRIST, pose.RIGHT_WRIST]].max() < 0.3:
                continue
            found = self.hands.process(np.ascontiguousarray(frame))
            ranked = sorted(
                zip(found.multi_hand_landmarks or [], found.multi_handedness or [], strict=True),
                key=lambda h: -h[1].classification[0].score,
            )
            free = [s for s in wrists if kp.conf[t, wrists[s]] > 0.1]
            for landmarks, handedness in ranked:
                if not free:
                    break
                points = np.array([(p.x, p.y) for p in landmarks.landmark], np.float32)
                side = min(free, key=lambda s: np.linalg.norm(kp.xy[t, wrists[s]] - points[0]))
                free.remove(side)
                kp.xy[t, parts[side]] = points
                kp.conf[t, parts[side]] = handedness.classification[0].score
        return kp


def tally(kp: pose.Keypoints) -> tuple[int, int]:
    found = attached = 0
    for hand, wrist in ((pose.LEFT_HAND, pose.LEFT_WRIST), (pose.RIGHT_HAND, pose.RIGHT_WRIST)):
        seen = kp.conf[:, hand.start] > 0
        gap = np.linalg.norm(kp.xy[seen, hand.start] - kp.xy[seen, wrist], axis=-1)
        found += int(seen.sum())
        attached += int((gap < 0.05).sum())
    return found, attached


def wobbles(palm: pose.Keypoints, body: pose.Keypoints, size: tuple[int, int]) -> str:
    """Hand keypoint wobble of both methods on the frames where both found the hand: the distance
    of a keypoint from the midpoint of its two neighbours (px of the 640-px frame; at 25 fps the
    estimator's own jitter, with the motion's acceleration), and the same for the hand's shape
    (keypoints relative to its wrist); median / 90th percentile."""
    scale = np.array([size[1], size[0]], np.float32)
    found = (palm.conf[:, pose.NUM_BODY :] > 0) & (body.conf[:, pose.NUM_BODY :] > 0)
    run = found[:-2] & found[1:-1] & found[2:]
    out = []
    for kp in (palm, body):
        xy = kp.xy[:, pose.NUM_BODY :] * scale
        shape = np.concatenate(
            [
                xy[:, : pose.NUM_HAND] - xy[:, :1],
                xy[:, pose.NUM_HAND :] - xy[:, pose.NUM_HAND :][:, :1],
            ],
            axis=1,
        )
        figures = []
        for points in (xy, shape):
            d = np.linalg.norm(points[1:-1] - (points[:-2] + points[2:]) / 2, axis=-1)[run]
            figures.append(f"{np.median(d):.1f} / {np.percentile(d, 90):.1f}" if len(d) else "n/a")
        out.append(f"position {figures[0]}, shape {figures[1]}")
    return f"wobble where both found ({int(run.sum())} keypoints): " + " | ".join(out)


def interpolation_errors(frames: np.ndarray) -> dict[str, str]:
    """The `--interpolation` figures of one clip's 25 fps frames (see the module docstring)."""
    estimator = pose.PoseEstimator()
    h, w = frames.shape[1:3]
    scale = np.array([w, h], np.float32)
    times = np.arange(len(frames)) / 25.0
    estimator.reset()
    ref = estimator(frames, times)
    parts = {"body": slice(0, pose.NUM_BODY), "hands": slice(pose.NUM_BODY, pose.NUM_KEYPOINTS)}
    out = {}
    for part, joints in parts.items():
        xy, ok = ref.xy[:, joints] * scale, ref.conf[:, joints] > (0.5 if part == "body" else 0)
        mid = (xy[:-2] + xy[2:]) / 2
        both = ok[:-2] & ok[1:-1] & ok[2:]
        wobble = np.linalg.norm(xy[1:-1] - mid, axis=-1)[both]
        out[f"{part} wobble"] = f"{np.median(wobble):.1f}" if len(wobble) else "n/a"
    for step in (2, 4):
        estimator.reset()
        sparse = estimator(frames[::step], times[::step])
        dense = pose.resample_keypoints(sparse, times[::step], times)
        skipped = np.ones(len(frames), bool)
        skipped[::step] = False
        for part, joints in parts.items():
            floor = 0.5 if part == "body" else 0
            ok = (ref.conf[:, joints] > floor) & (dense.conf[:, joints] > floor)
            ok &= skipped[:, None]
            dist = np.linalg.norm((dense.xy[:, joints] - ref.xy[:, joints]) * scale, axis=-1)[ok]
            key = f"{part} {25 / step:g} fps"
            out[key] = (
                f"{np.median(dist):.1f} (p90 {np.percentile(dist, 90):.1f})" if len(dist) else "n/a"
            )
    estimator.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default="s13,dance,s32")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--fps", type=float, default=12.5)
    parser.add_argument("--interpolation", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M UTC', time.gmtime())}")
    if args.interpolation:
        with native_messages_to(os.devnull):
            for name in args.fixtures.split(","):
                figures = interpolation_errors(frames_of(name, args.seconds, 25.0))
                print(name, "; ".join(f"{k}: {v}" for k, v in figures.items()))
        print(f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M UTC', time.gmtime())}")
        return
    print("clip         frames | palm detector: found / attached, ms/frame | from the body: same")
    with native_messages_to(os.devnull):
        methods = (PalmDetectorHands(), pose.PoseEstimator())  # built once, as in a worker
        for name in args.fixtures.split(","):
            frames = frames_of(name, args.seconds, args.fps)
            times = np.arange(len(frames)) / args.fps
            row, found_by = [], []
            for method in methods:
                method.reset()  # a new clip, as the scorers do
                start = time.process_time()
                kp = method(frames, times)
                ms = (time.process_time() - start) / len(frames) * 1e3
                found, attached = tally(kp)
                row.append(f"{found:3d} / {attached:3d}, {ms:5.1f}")
                found_by.append(kp)
            print(f"{name:12s} {len(frames):6d} | {row[0]:>26s} | {row[1]}")
            print(" " * 20 + wobbles(*found_by, frames.shape[1:3]))
    print(f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    main()
