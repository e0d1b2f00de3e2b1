"""Curation's mediapipe graphs: run on the calling thread, reused across clips, same results."""

from __future__ import annotations

import os

import numpy as np

from omni.curation.facetrack import FaceTracker
from omni.media import read_video


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _pose_landmarks(solution, frames: np.ndarray) -> np.ndarray:
    out = []
    for frame in frames:
        body = solution.process(frame).pose_landmarks
        out.append([(p.x, p.y, p.z, p.visibility) for p in body.landmark])
    return np.asarray(out)


def test_graphs_on_the_calling_thread_give_the_same_landmarks(footage):
    import mediapipe as mp

    from omni.mpgraph import on_calling_thread

    frames = read_video(footage("s13.mp4"), 0.0, 0.4, 25.0, size=(426, 640)).frames
    options = dict(static_image_mode=False, model_complexity=1)
    with mp.solutions.pose.Pose(**options) as pooled:
        want = _pose_landmarks(pooled, frames)
    before = _threads()
    solution = on_calling_thread(mp.solutions.pose.Pose)(**options)
    try:
        got = _pose_landmarks(solution, frames)
        assert _threads() == before  # no executor pool of its own
    finally:
        solution.close()
    assert isinstance(solution, mp.solutions.pose.Pose)
    assert np.array_equal(got, want)
    assert on_calling_thread(mp.solutions.pose.Pose) is type(solution)  # one class per solution


def test_the_pose_estimator_runs_on_the_calling_thread(footage):
    from omni.pose import PoseEstimator

    frames = read_video(footage("s13.mp4"), 0.0, 0.2, 25.0, size=(320, 480)).frames
    before = _threads()
    with PoseEstimator() as estimator:
        kp = estimator(frames)
        assert _threads() == before  # pose + hands in one graph, no executor pool of its own
    assert (kp.conf[:, 33] > 0).all()  # its hands ran


def test_a_reused_face_tracker_forgets_the_previous_clip(footage):
    # one mesh graph serves every clip: a clip's track must not depend on the clip before it
    clips = [
        read_video(footage(name), 0.0, 0.8, 25.0, size=size).frames
        for name, size in (("talk_news_b.mp4", None), ("s13.mp4", (426, 640)))
    ]
    fresh = []
    for frames in clips:
        tracker = FaceTracker(detect_every=10)
        fresh.append(tracker(frames, mesh_every=5))
        tracker.close()
    reused = FaceTracker(detect_every=10)
    try:
        for order in ((0, 1), (1, 0), (1, 1)):
            for i in order:
                track = reused(clips[i], mesh_every=5)
                assert np.array_equal(track.landmarks, fresh[i].landmarks, equal_nan=True)
                assert np.array_equal(track.box, fresh[i].box, equal_nan=True)
                assert np.array_equal(track.count, fresh[i].count)
    finally:
        reused.close()
    assert not np.isnan(fresh[0].landmarks[::5, 0, 0]).any()  # the mesh found the face


_FAULTS = """
import resource, sys
import numpy as np
from omni.curation.runner import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def clip():  # a clip's worth of frames (100 x 524 x 524 x 3), then freed
    return [np.ones((524, 524, 3), np.uint8) for _ in range(100)]
clip()
first = faults()
clip()
print(faults() - first)
"""


def test_workers_keep_freed_memory_for_the_next_clip():
    import subprocess
    import sys

    faults = {}
    for mode in ("default", "keep"):
        run = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        faults[mode] = int(run.stdout)
    assert faults["default"] > 10_000  # the second clip's frames faulted in afresh
    assert faults["keep"] < 1_000  # reused from the heap


def _noisy(task: dict) -> dict:
    """A task that prints from native code (fd 2, as mediapipe's C++ logging does) and from Python."""
    import sys

    os.write(2, f"native {task['clip_id']}\n".encode())
    print(f"python {task['clip_id']}", file=sys.stderr)
    return {"clip_id": task["clip_id"], "status": "ok"}


def test_native_messages_go_to_the_runs_log_and_python_ones_stay(tmp_path, capfd):
    from omni.curation.runner import native_log, run_rows

    out = tmp_path / "m.parquet"
    results = run_rows(_noisy, [{"clip_id": "a"}, {"clip_id": "b"}], out, workers=1)
    assert sorted(results["clip_id"]) == ["a", "b"]
    printed = capfd.readouterr()
    assert "native" not in printed.err and "python a" in printed.err and "python b" in printed.err
    assert native_log(out).read_text() == "native a\nnative b\n"
    assert str(native_log(out)) in printed.out.replace("\n", "")  # the run says where they went
    # fd 2 is back: native messages after the run reach the terminal again
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    # a run whose libraries print nothing leaves no log
    quiet = tmp_path / "q.parquet"
    run_rows(lambda task: {"clip_id": task["clip_id"]}, [{"clip_id": "a"}], quiet, workers=1)
    assert not native_log(quiet).exists()


def test_pool_workers_send_mediapipe_messages_to_the_log(footage, tmp_path, capfd):
    from omni.curation.runner import native_log, run_rows
    from omni.curation.score import score_task
    from omni.curation.scorers import ScoreConfig, scorer_version

    config = ScoreConfig(keypoints_dir=str(tmp_path / "kp"))
    task = {"clip_id": "c", "path": str(footage("d0.mp4")), "start_s": 0.0, "end_s": 0.4,
            "scorers": ["face", "pose"], "config": config.__dict__,
            "versions": {n: scorer_version(n, config) for n in ("face", "pose")}}  # fmt: skip
    out = tmp_path / "m.parquet"
    results = run_rows(score_task, [task, {**task, "clip_id": "d"}], out, workers=2)
    assert results["face_present"].notna().all()
    assert "XNNPACK" not in capfd.readouterr().err  # TFLite's line on every model load
    assert "XNNPACK" in native_log(out).read_text()
