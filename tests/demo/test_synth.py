"""The synthetic world: faces and bodies that mediapipe finds, mouths that follow the audio."""

from __future__ import annotations

import numpy as np
import pytest

from omni.demo import portrait, synth, world
from omni.demo.speech import Voice, synthesize
from omni.manifest import read_manifest
from omni.media import read_audio, read_video

FPS = 25.0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small dataset: 6 train clips (faces, a portrait, bodies) and 3 held-out clips."""
    out = tmp_path_factory.mktemp("demo")
    mix = {"face": 0.5, "portrait": 0.2, "body": 0.3}
    synth.make_demo_dataset(
        out, n_clips=9, seconds=3.0, size=128, held_out=3, mix=mix, progress=False
    )
    return out


def _face_mesh():
    import mediapipe as mp

    return mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1)


def _lip_gap(frames: np.ndarray) -> np.ndarray:
    """Inner lip distance / face height per frame from face-mesh landmarks (NaN: no face)."""
    out = []
    with _face_mesh() as mesh:
        for frame in frames:
            result = mesh.process(frame)
            if not result.multi_face_landmarks:
                out.append(np.nan)
                continue
            pts = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark])
            gap = np.linalg.norm(pts[13] - pts[14]) / np.linalg.norm(pts[10] - pts[152])
            out.append(gap)
    return np.array(out)


def test_manifest_splits_and_columns(dataset):
    train = read_manifest(dataset / "train.parquet").df
    held = read_manifest(dataset / "heldout.parquet").df
    assert len(train) == 6 and len(held) == 3
    assert set(train.synth_kind) == {"face", "portrait", "body"}
    assert "portrait" not in set(held.synth_kind)
    assert not set(train.synth_identity) & set(held.synth_identity)
    assert not set(train.synth_audio_id) & set(held.synth_audio_id)
    assert (train.status == "ok").all() and (train.num_frames == 75).all()
    assert train.caption.str.len().min() > 40
    body = train[train.synth_kind == "body"]
    assert body.eligible_pose.all() and body.synth_pose_id.notna().all()
    for column in ("source", "synth_truth", "synth_reference", "synth_audio"):
        assert all((dataset / p).exists() for p in train[column]), column
    assert train[train.synth_kind != "body"].keypoints_path.isna().all()


def test_body_keypoint_side_files_hold_the_truth(dataset):
    from omni.pose import load_keypoints

    manifest = read_manifest(dataset / "all.parquet")
    row = manifest.df[manifest.df.synth_kind == "body"].iloc[0]
    kp, times = load_keypoints(manifest.resolve(row.keypoints_path))
    truth = synth.load_truth(manifest.resolve(row.synth_truth))
    np.testing.assert_allclose(kp.xy[:, :33], truth.keypoints, atol=1e-6)
    np.testing.assert_allclose(times, np.arange(75) / FPS)
    assert (kp.conf[:, :33] == 1).all() and (kp.conf[:, 33:] == 0).all()


def test_mouth_follows_the_driving_audio(dataset):
    """Lip gap measured by face mesh correlates with the clip's own audio, not another's."""
    manifest = read_manifest(dataset / "all.parquet")
    faces = manifest.df[manifest.df.synth_kind.isin(["face", "portrait"])].reset_index(drop=True)
    envelopes = [
        synth.frame_envelope(read_audio(manifest.resolve(s)), 16000, FPS, 75) for s in faces.source
    ]
    for i, row in faces.iterrows():
        frames = read_video(manifest.resolve(row.source)).frames
        gap = _lip_gap(frames)
        assert np.isfinite(gap).all(), f"{row.clip_id}: face not found on every frame"
        own = np.corrcoef(gap, envelopes[i])[0, 1]
        other = np.corrcoef(gap, envelopes[(i + 1) % len(faces)])[0, 1]
        floor = 0.7 if row.synth_kind == "portrait" else 0.85
        assert own > floor, f"{row.clip_id}: corr with own audio {own:.2f}"
        assert abs(other) < 0.4, f"{row.clip_id}: corr with other audio {other:.2f}"


def test_truth_mouth_is_the_audio_envelope_in_sync(dataset):
    """The stored mouth track equals the written audio's envelope, at lag 0 (A/V in sync)."""
    manifest = read_manifest(dataset / "train.parquet")
    row = manifest.df.iloc[0]
    truth = synth.load_truth(manifest.resolve(row.synth_truth))
    envelope = synth.frame_envelope(read_audio(manifest.resolve(row.source)), 16000, FPS, 75)
    lags = {
        lag: np.corrcoef(truth.mouth[5:-5], np.roll(envelope, lag)[5:-5])[0, 1]
        for lag in (-2, -1, 0, 1, 2)
    }
    assert max(lags, key=lags.get) == 0
    assert lags[0] > 0.97


def test_pose_estimator_finds_the_bodies(dataset):
    import mediapipe as mp

    manifest = read_manifest(dataset / "all.parquet")
    bodies = manifest.df[manifest.df.synth_kind == "body"].reset_index(drop=True)
    assert len(bodies) >= 2
    joints = [11, 12, 13, 14, 15, 16]  # shoulders, elbows, wrists (half-body: legs out of frame)
    truths = [synth.load_truth(manifest.resolve(p)).keypoints for p in bodies.synth_truth]
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        for i, row in bodies.iterrows():
            frames = read_video(manifest.resolve(row.source)).frames[::3]
            estimated = []
            for frame in frames:
                result = pose.process(frame)
                assert result.pose_landmarks is not None, f"{row.clip_id}: no person found"
                estimated.append([(p.x, p.y) for p in result.pose_landmarks.landmark])
            estimated = np.array(estimated)[:, joints]
            own = np.linalg.norm(estimated - truths[i][::3, joints], axis=-1).mean()
            other = np.linalg.norm(
                estimated - truths[(i + 1) % len(bodies)][::3, joints], axis=-1
            ).mean()
            assert own < 0.04, f"{row.clip_id}: keypoint error {own:.3f} of the frame"
            assert other > 2 * own


def test_reference_and_portrait_faces_are_found(dataset):
    import cv2

    manifest = read_manifest(dataset / "all.parquet")
    refs = sorted(set(manifest.df[manifest.df.synth_kind != "body"].synth_reference))
    images = [cv2.cvtColor(cv2.imread(str(dataset / r)), cv2.COLOR_BGR2RGB) for r in refs]
    assert np.isfinite(_lip_gap(np.stack(images))).all()


def test_astronaut_landmarks_are_where_the_warp_expects():
    with _face_mesh() as mesh:
        result = mesh.process(portrait.astronaut())
    pts = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark]) * 512
    assert np.abs(pts[14] - portrait.SEAM).max() < 3  # lower inner lip
    assert abs(pts[152][1] - portrait.CHIN_Y) < 4
    assert abs(np.linalg.norm(pts[10] - pts[152]) - portrait.FACE_HEIGHT) < 5


def test_rendering_is_deterministic_and_seeded():
    def clip(seed: int):
        identity = world.make_identity("x", "face", np.random.default_rng(seed))
        speech = synthesize(np.random.default_rng(seed), 1.0, Voice(120.0))
        frames, truth = world.render_clip(
            identity, speech, None, np.random.default_rng(seed), 25, FPS, 64
        )
        return frames, truth, speech.wave

    a, b, c = clip(1), clip(1), clip(2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2])
    np.testing.assert_array_equal(a[1].mouth, b[1].mouth)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[2], c[2])


def test_cached_and_guarded(tmp_path):
    first = synth.make_demo_dataset(
        tmp_path, n_clips=2, seconds=0.4, size=64, held_out=1, progress=False
    )
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = synth.make_demo_dataset(
        tmp_path, n_clips=2, seconds=0.4, size=64, held_out=1, progress=False
    )
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamp
    with pytest.raises(ValueError, match="another folder"):
        synth.make_demo_dataset(
            tmp_path, n_clips=3, seconds=0.4, size=64, held_out=1, progress=False
        )


def test_resumes_after_interruption(tmp_path):
    kwargs = dict(n_clips=3, seconds=0.4, size=64, held_out=1, progress=False)
    synth.make_demo_dataset(tmp_path / "whole", **kwargs)
    synth.make_demo_dataset(tmp_path / "cut", **kwargs)
    (tmp_path / "cut" / "all.parquet").unlink()  # as if killed before the manifests were written
    video = next((tmp_path / "cut" / "videos").iterdir())
    video.unlink()
    synth.make_demo_dataset(tmp_path / "cut", **kwargs)
    whole = read_manifest(tmp_path / "whole" / "all.parquet").df
    cut = read_manifest(tmp_path / "cut" / "all.parquet").df
    assert whole.equals(cut)
    assert video.exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_clips=2, held_out=2), "held_out"),
        (dict(n_clips=2, size=33), "size"),
        (dict(n_clips=2, mix={"robot": 1.0}), "mix"),
        (dict(n_clips=2, held_out=1.5), "fraction"),
    ],
)
def test_bad_arguments_say_what_was_expected(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        synth.make_demo_dataset(tmp_path, progress=False, **kwargs)


def test_demo_dataset_is_cached_per_arguments(tmp_path):
    small = dict(n_clips=2, seconds=0.4, size=64, held_out=1, progress=False)
    first = synth.demo_dataset(tmp_path, **small)
    assert synth.demo_dataset(tmp_path, **small) == first
    other = synth.demo_dataset(tmp_path, **{**small, "seed": 1})
    assert other.parent != first.parent and other.parent.parent == tmp_path
    with pytest.raises(ValueError, match="unknown demo dataset options"):
        synth.demo_dataset(tmp_path, clips=3)


def test_head_motion_scale(tmp_path):
    """head_motion=0 keeps heads still (only mouth and eyes move); the default spec is unchanged."""
    identity = world.make_identity("x", "face", np.random.default_rng(3))
    speech = synthesize(np.random.default_rng(3), 1.0, Voice(120.0))
    moving = world.render_clip(identity, speech, None, np.random.default_rng(3), 25, FPS, 64)[1]
    still = world.render_clip(
        identity, speech, None, np.random.default_rng(3), 25, FPS, 64, head_scale=0.0
    )[1]
    assert np.abs(moving.head).max() > 0.01 and np.abs(still.head).max() == 0.0
    np.testing.assert_array_equal(moving.mouth, still.mouth)
    default = synth._spec(4, 1.0, 64, 25.0, 0, 1, 16000, None, 2)
    assert "head_motion" not in default.to_json()
    assert synth._spec(4, 1.0, 64, 25.0, 0, 1, 16000, None, 2, 0.0).digest() != default.digest()
    with pytest.raises(ValueError, match="head_motion"):
        synth.make_demo_dataset(tmp_path, n_clips=2, seconds=0.4, size=64, held_out=1,
                                head_motion=-1.0, progress=False)  # fmt: skip
