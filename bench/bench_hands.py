"""Hands found by omni.pose (from the body) against mediapipe Hands' palm detector, and their cost.

    .venv/bin/python bench/bench_hands.py [--fixtures s13,dance,s32] [--seconds 8] [--fps 12.5]

Per fixture clip: frames at `--fps` (the dense keypoint rate) with the longer side 640 px (the
scorers' frame size). `omni.pose.PoseEstimator` finds each hand from its arm's pose landmarks;
the comparison is what omni.pose did before keypoints version 2: mediapipe Hands (palm detection,
then tracked hand landmarks; model_complexity 1, video mode) on the frames where pose sees a
wrist (visibility ≥ 0.3), each hand given to the nearer visible body wrist. For each: hands
found (of 2 per frame), how many of them sit within 0.05 (frame units) of their arm's body wrist,
and CPU ms per frame for pose + hands (graphs built once, reset per clip as in a worker). Prints figures (recorded in docs/curation.md); nothing is
asserted.
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

    def __call__(self, frames: np.ndarray) -> pose.Keypoints:
        kp = self.body(frames)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default="s13,dance,s32")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--fps", type=float, default=12.5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("clip         frames | palm detector: found / attached, ms/frame | from the body: same")
    with native_messages_to(os.devnull):
        methods = (PalmDetectorHands(), pose.PoseEstimator())  # built once, as in a worker
        for name in args.fixtures.split(","):
            frames = frames_of(name, args.seconds, args.fps)
            row = []
            for method in methods:
                method.reset()  # a new clip, as the scorers do
                start = time.process_time()
                kp = method(frames)
                ms = (time.process_time() - start) / len(frames) * 1e3
                found, attached = tally(kp)
                row.append(f"{found:3d} / {attached:3d}, {ms:5.1f}")
            print(f"{name:12s} {len(frames):6d} | {row[0]:>26s} | {row[1]}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
