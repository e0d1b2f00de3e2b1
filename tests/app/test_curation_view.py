"""The Curation tab's functions on a small manifest whose rows point at real video files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from omni.app import curation_view as cv
from omni.manifest import BASE_FIELDS, Manifest, write_manifest
from omni.media import probe, read_audio, write_video

FPS = 25


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Manifest:
    """Four clips of one 2 s file (brightness rises over time, 440 Hz tone) and an error row."""
    root = tmp_path_factory.mktemp("media")
    frames = np.zeros((50, 48, 64, 3), np.uint8)
    frames[...] = np.linspace(0, 250, 50, dtype=np.uint8)[:, None, None, None]
    tone = np.sin(2 * np.pi * 440 * np.arange(32000) / 16000).astype(np.float32) * 0.5
    write_video(root / "a.mp4", frames, FPS, tone, 16000)
    (root / "bad.mp4").write_text("not a video")
    rows = [
        _row("c0", "a.mp4", 0.0, 0.4, sharp=10.0, noise=3.0, flags=(True, True, False)),
        _row("c1", "a.mp4", 0.4, 0.8, sharp=30.0, noise=1.0, flags=(True, False, False)),
        _row("c2", "a.mp4", 0.8, 1.6, sharp=20.0, noise=2.0, flags=(True, True, True)),
        _row("c3", "a.mp4", 1.6, 2.0, sharp=None, noise=None, flags=(False, False, False)),
        _row("bad", "bad.mp4", 0.0, None, sharp=None, noise=None, flags=(False, False, False)),
    ]
    df = pd.DataFrame(rows)
    df.loc[4, ["status", "error"]] = ["error", "not a readable video"]
    return Manifest(df, str(root))


def _row(clip_id, source, start, end, sharp, noise, flags) -> dict:
    row = {f.name: None for f in BASE_FIELDS}
    row |= {"clip_id": clip_id, "source": source, "start_s": start, "end_s": end, "status": "ok"}
    row |= {"fps": FPS, "width": 64, "height": 48, "has_audio": True, "audio_sr": 16000}
    for condition, flag in zip(cv.CONDITIONS, flags, strict=True):
        row[f"eligible_{condition}"] = flag
    return row | {"sharpness": sharp, "noise": noise}


def _ids(df: pd.DataFrame) -> list[str]:
    return df["clip_id"].tolist()


def test_filters_combine_status_eligibility_range_and_search(manifest: Manifest) -> None:
    df = manifest.df
    assert _ids(cv.filter_rows(df, cv.ClipFilter())) == ["c0", "c1", "c2", "c3", "bad"]
    assert _ids(cv.filter_rows(df, cv.ClipFilter(status="error"))) == ["bad"]
    assert _ids(cv.filter_rows(df, cv.ClipFilter(eligible="audio"))) == ["c0", "c2"]
    assert _ids(cv.filter_rows(df, cv.ClipFilter(eligible="pose"))) == ["c2"]
    assert _ids(cv.filter_rows(df, cv.ClipFilter(eligible="rejected"))) == ["c3", "bad"]
    ranged = cv.ClipFilter(column="sharpness", low=15.0, high=30.0)
    assert _ids(cv.filter_rows(df, ranged)) == ["c1", "c2"]  # rows without a score drop out
    assert _ids(cv.filter_rows(df, cv.ClipFilter(column="sharpness", high=15))) == ["c0"]
    assert _ids(cv.filter_rows(df, cv.ClipFilter(search="BAD.mp"))) == ["bad"]
    with pytest.raises(ValueError, match=r"no column 'aesthetic'.*sharpness"):
        cv.filter_rows(df, cv.ClipFilter(column="aesthetic", low=1.0))


def test_bounds_typed_by_the_user() -> None:
    assert cv.parse_bound("", "min") is None and cv.parse_bound(" 2.5 ", "min") == 2.5
    with pytest.raises(ValueError, match="max must be a number or blank, got 'high'"):
        cv.parse_bound("high", "max")


def test_pass_rates_summary_and_table(manifest: Manifest) -> None:
    rates = cv.pass_rates(manifest.df).set_index("condition")
    assert rates.loc["text_ref", "eligible"] == 3 and rates.loc["audio", "eligible"] == 2
    assert rates.loc["pose", "pass rate"] == "20.0%" and rates.loc["pose", "of"] == 5
    why = manifest.df.copy()
    why.loc[1, "reject_reason"] = "audio: sync_conf 0.1 (needs >= 0.15); pose: needs eligible_audio"
    failing = cv.pass_rates(why).set_index("condition")["failing"]
    assert failing.to_dict() == {
        "text_ref": "",
        "audio": "sync_conf 1",
        "pose": "needs eligible_audio 1",
    }
    shown = cv.filter_rows(manifest.df, cv.ClipFilter(status="ok"))
    assert cv.summary(manifest.df, shown, manifest.root).startswith("**4 of 5 rows** shown (ok 4)")
    table = cv.table(manifest.df)
    assert list(table.columns[:2]) == ["clip_id", "source"]
    assert list(table.columns[-2:]) == ["sharpness", "noise"]  # the report's order


def test_histograms_one_panel_per_scored_column(manifest: Manifest) -> None:
    fig = cv.histograms(manifest.df)
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    assert titles == ["sharpness (3 clips)", "noise (3 clips)"]
    counts = [p.get_height() for p in fig.axes[0].patches]
    assert sum(counts) == 3
    assert cv.histograms(manifest.df.iloc[3:]) is None  # no scores among these rows


def test_best_and_worst_follow_the_reports_direction(manifest: Manifest) -> None:
    ranked = cv.ranked(manifest.df, "sharpness", 1)
    assert [(label, manifest.df.loc[i, "clip_id"]) for label, i, _ in ranked] == [
        ("best", "c1"),
        ("worst", "c0"),
    ]
    noise = cv.ranked(manifest.df, "noise", 1)  # lower noise is better
    assert [manifest.df.loc[i, "clip_id"] for _, i, _ in noise] == ["c1", "c0"]


def test_thumbnails_show_the_middle_frame(manifest: Manifest) -> None:
    df = manifest.df
    early, late = cv.thumbnail(manifest, df.iloc[0]), cv.thumbnail(manifest, df.iloc[2])
    assert early.shape == (48, 64, 3)
    assert late.mean() > early.mean() + 50  # brightness rises over the file
    assert cv.thumbnail(manifest, df.iloc[4]) is None
    items = cv.gallery(manifest, df, "sharpness", 2)
    assert [caption for _, caption in items] == [
        "best: c1 (sharpness 30)",
        "best: c2 (sharpness 20)",
        "worst: c0 (sharpness 10)",
    ]


def test_pose_galleries_draw_the_keypoints(manifest: Manifest, tmp_path: Path) -> None:
    from omni import pose

    xy = np.full((2, pose.NUM_KEYPOINTS, 2), np.nan, np.float32)
    conf = np.zeros((2, pose.NUM_KEYPOINTS), np.float32)
    xy[:, 11], xy[:, 12], conf[:, [11, 12]] = (0.1, 0.5), (0.9, 0.5), 1.0  # a line across
    side = pose.save_keypoints(tmp_path / "kp.npz", pose.Keypoints(xy, conf), np.array([0.0, 1.0]))
    df = manifest.df.copy()
    df["pose_visibility"] = [0.9, 0.2, None, None, None]
    df["keypoints_path"] = [str(side), None, None, None, None]
    (drawn, caption), (plain, _) = cv.gallery(manifest, df, "pose_visibility", 1)
    assert caption == "best: c0 (pose_visibility 0.9)"
    frame = cv.thumbnail(manifest, df.iloc[0])
    changed = np.abs(drawn.astype(int) - frame).sum(-1) > 60
    assert changed[22:27].any(axis=0)[8:56].all() and not changed[:15].any()
    assert np.array_equal(plain, cv.thumbnail(manifest, df.iloc[1]))  # no side file: as it is


def test_clip_playback_cuts_the_span_with_sound(manifest: Manifest, tmp_path: Path) -> None:
    row = manifest.df.iloc[2]  # 0.8 .. 1.6 s
    path = cv.clip_video(manifest, row, tmp_path)
    info = probe(path)
    assert info.num_frames == 20 and info.has_audio
    assert info.width == 64 and info.height == 48
    audio = read_audio(path, 16000)
    assert abs(np.abs(audio[1000:-1000]).max() - 0.5) < 0.1  # the tone came along
    assert cv.clip_video(manifest, row, tmp_path) == path  # made once
    with pytest.raises(ValueError, match="clip bad has status 'error' \\(not a readable video\\)"):
        cv.clip_video(manifest, manifest.df.iloc[4], tmp_path)


def test_clip_playback_can_draw_the_keypoints(manifest: Manifest, tmp_path: Path) -> None:
    from omni import pose
    from omni.media import read_video

    xy = np.full((2, pose.NUM_KEYPOINTS, 2), np.nan, np.float32)
    conf = np.zeros((2, pose.NUM_KEYPOINTS), np.float32)
    conf[:, [11, 12]] = 1.0
    xy[0, 11], xy[0, 12] = (0.1, 0.25), (0.9, 0.25)  # shoulders at 0.8 s: a line high up
    xy[1, 11], xy[1, 12] = (0.1, 0.75), (0.9, 0.75)  # at 1.6 s: low
    times = np.array([0.8, 1.6])
    side = pose.save_keypoints(tmp_path / "kp.npz", pose.Keypoints(xy, conf), times)
    row = manifest.df.iloc[2].copy()  # 0.8 .. 1.6 s
    row["keypoints_path"] = str(side)
    plain = read_video(cv.clip_video(manifest, row, tmp_path)).frames.astype(int)
    drawn = read_video(cv.clip_video(manifest, row, tmp_path, keypoints=True)).frames.astype(int)
    assert drawn.shape == plain.shape
    changed = np.abs(drawn - plain).sum(-1) > 60  # (T, 48, 64)
    rows = [np.flatnonzero(changed[t].any(axis=1)) for t in (0, 10)]
    assert 10 <= rows[0].mean() <= 14 and 22 <= rows[1].mean() <= 26  # interpolated: 0.25, 0.5
    without = manifest.df.iloc[2]  # no side file: the plain clip
    assert cv.clip_video(manifest, without, tmp_path, keypoints=True) == cv.clip_video(
        manifest, without, tmp_path
    )


def test_playback_size_is_upright_and_bounded() -> None:
    row = pd.Series({"width": 1920, "height": 1080, "rotation": 90})
    assert cv._display_size(row, 360) == (202, 360)


def test_open_manifest_refuses_clearly(manifest: Manifest, tmp_path: Path) -> None:
    base = manifest.df[[f.name for f in BASE_FIELDS]]  # score columns are the scorers' to declare
    path = write_manifest(base, tmp_path / "m.parquet", root=manifest.root)
    assert _ids(cv.open_manifest(str(path)).df) == _ids(manifest.df)
    with pytest.raises(ValueError, match="expected the path of a manifest"):
        cv.open_manifest("  ")
    with pytest.raises(ValueError, match="no such file"):
        cv.open_manifest(tmp_path / "absent.parquet")
    (tmp_path / "text.parquet").write_text("hello")
    with pytest.raises(ValueError, match=r"not a Parquet manifest.*omni curate"):
        cv.open_manifest(tmp_path / "text.parquet")
