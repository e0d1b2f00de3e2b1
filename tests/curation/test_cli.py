"""`omni curate` end to end on real and broken files: every file accounted for, exit 0."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from omni.curation.cli import curate
from omni.manifest import read_manifest
from omni.media import read_audio, read_video, write_video

FAST = "quality,motion,speech"  # scorers without mediapipe, for the plumbing tests


@pytest.fixture(scope="module")
def raw(tmp_path_factory, footage):
    """A footage folder with real clips and every kind of bad input."""
    root = tmp_path_factory.mktemp("raw")
    (root / "sub").mkdir()
    clip = read_video(footage("talk_news_b.mp4"), 0, 2.2, fps=25, size=(128, 128))
    audio = read_audio(footage("talk_news_b.mp4"), 16000, 0, 2.2)
    write_video(root / "talk.mp4", clip.frames, 25, audio)
    write_video(root / "sub" / "ünï cødé.mp4", clip.frames[:55], 25)  # no audio stream
    write_video(root / "silent.mp4", clip.frames[:55], 25, np.zeros(16000 * 3, np.float32))
    write_video(root / "one_frame.mp4", clip.frames[:1], 25)
    write_video(root / "tiny.mp4", np.zeros((60, 8, 8, 3), np.uint8), 25)
    (root / "zero.mp4").write_bytes(b"")
    (root / "random.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (root / "text.mp4").write_text("not a video")
    (root / "trunc.mp4").write_bytes(footage("d12.mp4").read_bytes()[:20000])
    shutil.copy(footage("d12.mp4"), root / "audio_only.m4a")
    _audio_only(footage("d12.mp4"), root / "voice.mp4")
    return root


def _audio_only(src, dst) -> None:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream_from_template(inp.streams.audio[0])
        for packet in inp.demux(inp.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


def _run(*args) -> str:
    result = CliRunner().invoke(curate, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_probe_split_score_filter_report(raw, tmp_path):
    out = tmp_path / "m"
    _run("probe", raw, "--out", out / "probe.parquet", "--include", "*.mp4")
    probe = read_manifest(out / "probe.parquet").df.set_index("source")
    assert len(probe) == 10  # every .mp4 has a row (the .m4a was not included)
    assert (
        probe.loc[["zero.mp4", "random.mp4", "text.mp4", "trunc.mp4", "voice.mp4"], "status"]
        == "error"
    ).all()
    assert "0 bytes" in probe.loc["zero.mp4", "error"]
    assert "audio-only" in probe.loc["voice.mp4", "error"]
    assert probe.loc["talk.mp4", "has_audio"] and not probe.loc["sub/ünï cødé.mp4", "has_audio"]
    assert probe.loc["talk.mp4", "fps"] == 25 and probe.loc["talk.mp4", "num_frames"] == 55

    _run(
        "split",
        out / "probe.parquet",
        "--out",
        out / "split.parquet",
        "--min-len",
        1,
        "--max-len",
        1.5,
    )
    split = read_manifest(out / "split.parquet").df
    talk = split[split["source"] == "talk.mp4"]
    assert len(talk) == 2 and np.allclose(talk["end_s"] - talk["start_s"], 1.1)
    assert split.loc[split["source"] == "one_frame.mp4", "error"].str.contains("no scene").all()
    assert set(probe.index) == set(split["source"])  # no source lost

    output = _run("score", out / "split.parquet", "--out", out / "score.parquet", "--scorers", FAST)
    rate = float(output.split("clip-seconds per second")[1].split()[1])  # the summary's throughput
    assert rate > 0 and "scoring time" in output
    scored = read_manifest(out / "score.parquet").df
    assert len(scored) == len(split) and not (out / "score.parquet.parts").exists()
    ok = scored[scored["status"] == "ok"]
    assert ok["quality_version"].eq("2").all()
    assert ok["sharpness"].gt(0).sum() == len(ok) - 2  # the black 8x8 clip has no detail
    assert ok.loc[ok["source"] == "tiny.mp4", "sharpness"].eq(0).all()
    tiny = ok.loc[ok["source"] == "tiny.mp4"].iloc[0]  # motion cannot be measured: says why
    assert np.isnan(tiny["motion"]) and "too small for optical flow" in tiny["score_error"]
    by_source = ok.groupby("source")["speech_activity"].max()
    assert by_source["talk.mp4"] > 0.5 and by_source["silent.mp4"] == 0.0
    assert np.isnan(by_source["sub/ünï cødé.mp4"])  # no audio stream: unknown, not zero
    assert scored.loc[scored["status"] == "error", "quality_version"].isna().all()

    _run("filter", out / "score.parquet", "--out", out / "filter.parquet")
    flt = read_manifest(out / "filter.parquet").df
    assert len(flt) == len(scored)
    silent = flt[flt["source"] == "silent.mp4"].iloc[0]
    assert not silent["eligible_audio"] and "speech_activity" in silent["reject_reason"]
    assert not flt.loc[flt["status"] == "error", "eligible_text_ref"].any()

    _run("report", out / "filter.parquet", "--out", out / "report.html")
    page = (out / "report.html").read_text()
    assert "data:image/png;base64" in page and "sharpness" in page and "ünï cødé.mp4" in page
    assert "rows failing each check" in page and "needs eligible_" in page  # why, per condition


def test_usage_errors_exit_non_zero(raw, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(
        curate, ["score", str(raw / "text.mp4"), "--out", str(tmp_path / "x.parquet")]
    )
    assert bad.exit_code != 0 and "expected an omni manifest" in bad.output
    _run("probe", raw, "--out", tmp_path / "p.parquet", "--include", "talk.mp4")
    bad = runner.invoke(
        curate, ["score", str(tmp_path / "p.parquet"), "--out", "o.parquet", "--scorers", "nope"]
    )
    assert bad.exit_code != 0 and "unknown scorers" in bad.output
    (tmp_path / "t.yaml").write_text("min_sharpnes: 3\n")
    bad = runner.invoke(
        curate,
        [
            "filter",
            str(tmp_path / "p.parquet"),
            "--out",
            "o.parquet",
            "--config",
            str(tmp_path / "t.yaml"),
        ],
    )
    assert bad.exit_code != 0 and "min_sharpnes" in bad.output


def test_interrupted_score_resumes_to_the_same_manifest(raw, tmp_path, monkeypatch):
    from omni.curation import runner

    _run("probe", raw, "--out", tmp_path / "p.parquet")
    _run(
        "split",
        tmp_path / "p.parquet",
        "--out",
        tmp_path / "s.parquet",
        "--min-len",
        0.5,
        "--max-len",
        1,
    )
    _run("score", tmp_path / "s.parquet", "--out", tmp_path / "full.parquet", "--scorers", FAST)

    real_flush, calls = runner.write_part, []

    def dying_flush(out, rows):  # the process dies after the first part is on disk
        if calls:
            raise SystemError("killed")
        calls.append(len(rows))
        real_flush(out, rows)

    monkeypatch.setattr(runner, "write_part", dying_flush)
    monkeypatch.setattr(runner.run_rows, "__defaults__", (1, "local", 2, "scoring"))
    with pytest.raises(SystemError, match="killed"):
        CliRunner().invoke(
            curate,
            [
                "score",
                str(tmp_path / "s.parquet"),
                "--out",
                str(tmp_path / "r.parquet"),
                "--scorers",
                FAST,
            ],
            catch_exceptions=False,
        )
    assert len(list((tmp_path / "r.parquet.parts").glob("part-*.parquet"))) == 1
    monkeypatch.setattr(runner, "write_part", real_flush)
    output = _run(
        "score", tmp_path / "s.parquet", "--out", tmp_path / "r.parquet", "--scorers", FAST
    )
    full = read_manifest(tmp_path / "full.parquet").df
    resumed = read_manifest(tmp_path / "r.parquet").df
    pd.testing.assert_frame_equal(full, resumed)
    scored_now = int(output.split("scored now")[1].split()[1])
    assert scored_now == (full["status"] == "ok").sum() - 2  # the 2 rows of the part were kept
    # re-running on the output skips everything: same versions
    again = _run(
        "score", tmp_path / "r.parquet", "--out", tmp_path / "r2.parquet", "--scorers", FAST
    )
    assert int(again.split("scored now")[1].split()[1]) == 0


def test_workers_default_to_the_usable_cores_at_most_one_per_clip(raw, tmp_path, monkeypatch):
    import os

    from omni.curation import cli

    cores = len(os.sched_getaffinity(0))

    _run("probe", raw, "--out", tmp_path / "p.parquet")
    pending = (read_manifest(tmp_path / "p.parquet").df["status"] == "ok").sum()
    assert pending >= 3
    score = ("score", tmp_path / "p.parquet", "--out", tmp_path / "o.parquet", "--dry-run")
    output = _run(*score)
    assert f"would score {pending} clips" in output
    assert f"on {min(cores, pending)} worker(s)" in output
    assert "on 1 worker(s)" in _run(*score, "--limit", 1)
    assert "on 3 worker(s)" in _run(*score, "--workers", 3)
    monkeypatch.setattr(cli, "available_memory", lambda: int(1.5 * cli.WORKER_MEMORY))
    assert "on 1 worker(s)" in _run(*score)  # memory for one worker only


def test_lipsync_method_change_rescores_on_resume(raw, tmp_path):
    _run("probe", raw, "--out", tmp_path / "p.parquet", "--include", "talk.mp4")
    score = ("--scorers", "lipsync")
    _run("score", tmp_path / "p.parquet", "--out", tmp_path / "mesh.parquet", *score,
         "--lipsync", "mesh")  # fmt: skip
    mesh = read_manifest(tmp_path / "mesh.parquet").df.iloc[0]
    assert mesh["sync_method"] == "landmark" and mesh["lipsync_version"] == "2"
    # the default method on the mesh-scored manifest: the row is pending again and re-scored
    output = _run("score", tmp_path / "mesh.parquet", "--out", tmp_path / "c.parquet", *score,
                  "--dry-run")  # fmt: skip
    assert "would score 1 clips" in output and "on 1 worker(s)" in output  # one pending clip
    _run("score", tmp_path / "mesh.parquet", "--out", tmp_path / "cavity.parquet", *score)
    cavity = read_manifest(tmp_path / "cavity.parquet").df.iloc[0]
    assert cavity["sync_method"] == "cavity" and cavity["lipsync_version"] == "3"
    assert abs(cavity["sync_offset"]) <= 2
    bad = CliRunner().invoke(
        curate, ["score", str(tmp_path / "p.parquet"), "--out", "x.parquet", "--lipsync", "dots"]
    )
    assert bad.exit_code == 2 and "dots" in bad.output
    bad = CliRunner().invoke(
        curate,
        ["score", str(tmp_path / "p.parquet"), "--out", "x.parquet", "--dense-pose-fps", "0"],
    )
    assert bad.exit_code == 2 and "dense_pose_fps must be positive" in bad.output


def test_a_new_scorer_version_re_runs_only_that_scorer(raw, tmp_path, monkeypatch):
    from omni.curation.scorers import SCORERS

    _run("probe", raw, "--out", tmp_path / "p.parquet", "--include", "talk.mp4")
    _run("score", tmp_path / "p.parquet", "--out", tmp_path / "a.parquet", "--scorers", FAST)
    first = read_manifest(tmp_path / "a.parquet").df.iloc[0]
    assert first["score_error"] is None and first["noise"] is not None

    def boom(self, clip, config):
        raise RuntimeError("boom")

    # quality gets a new version (and now fails); motion and speech must not run again (had
    # they, their columns would be null and score_error would name them)
    monkeypatch.setattr(SCORERS["quality"], "version", "new")
    monkeypatch.setattr(SCORERS["quality"], "__call__", boom)
    monkeypatch.setattr(SCORERS["motion"], "__call__", boom)
    monkeypatch.setattr(SCORERS["speech"], "__call__", boom)
    dry = _run("score", tmp_path / "a.parquet", "--out", tmp_path / "b.parquet",
               "--scorers", FAST, "--dry-run")  # fmt: skip
    dry = " ".join(dry.split())  # rich wraps long lines
    assert "would score 1 clips" in dry and "scorer runs: quality 1" in dry
    _run("score", tmp_path / "a.parquet", "--out", tmp_path / "b.parquet", "--scorers", FAST)
    second = read_manifest(tmp_path / "b.parquet").df.iloc[0]
    assert second["score_error"] == "quality: RuntimeError: boom"
    assert second["quality_version"] == "new" and pd.isna(second["noise"])
    for column in ("motion", "motion_version", "speech_activity", "speech_version"):
        assert second[column] == first[column], column

    # motion gets a new version and works again: quality's reason stays, motion's values return
    monkeypatch.undo()
    monkeypatch.setattr(SCORERS["quality"], "version", "new")
    monkeypatch.setattr(SCORERS["motion"], "version", "new")
    _run("score", tmp_path / "b.parquet", "--out", tmp_path / "c.parquet", "--scorers", FAST)
    third = read_manifest(tmp_path / "c.parquet").df.iloc[0]
    assert third["score_error"] == "quality: RuntimeError: boom" and pd.isna(third["noise"])
    assert third["motion_version"] == "new" and third["motion"] == pytest.approx(first["motion"])


def test_score_error_keeps_the_reasons_of_scorers_not_run_again():
    from omni.curation.score import _errors

    old = "face: ValueError: a; b; motion: ValueError: tiny"  # a reason may hold "; "
    assert _errors(old, None, {"face"}) == "motion: ValueError: tiny"
    assert (
        _errors(old, "face: KeyError: c", {"face"}) == "face: KeyError: c; motion: ValueError: tiny"
    )
    both = "face: ValueError: a; b; quality: E: q; motion: ValueError: tiny"  # scorer order
    assert _errors(old, "quality: E: q", {"quality"}) == both
    assert _errors(old, None, {"face", "motion"}) is None
