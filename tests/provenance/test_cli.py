"""`omni verify`: per-file lines, --json, and the documented exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from omni.cli import main
from omni.media import write_video
from omni.provenance.record import ProvenanceRecord
from omni.provenance.video import write_marked_video
from omni.provenance.watermark import Payload, watermark_frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory, small_clip):
    folder = tmp_path_factory.mktemp("cli")
    record = ProvenanceRecord(seed=5)
    marked = write_marked_video(folder / "marked.mp4", small_clip, 25, record=record)
    plain = write_marked_video(folder / "plain.mp4", small_clip, 25, record=record, watermark=False)
    return marked, plain


def test_all_marked_exits_0(videos) -> None:
    result = CliRunner().invoke(main, ["verify", str(videos[0])])
    assert result.exit_code == 0, result.output
    assert "WATERMARK FOUND" in result.output and "checkpoint 000000" in result.output
    assert "seed 5" in result.output


def test_any_unmarked_exits_1_with_json(videos, tmp_path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_text("junk")
    args = ["verify", "--json", str(videos[0]), str(videos[1]), str(junk)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    reports = json.loads(result.stdout)
    assert [r["marked"] for r in reports] == [True, False, False]
    assert reports[1]["record"]["watermark"] is False
    assert reports[2]["error"] and reports[2]["watermark"] is None


def test_usage_errors_exit_2(videos, tmp_path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["verify"]).exit_code == 2
    missing = ["verify", "--trust-anchors", str(tmp_path / "none.pem"), str(videos[0])]
    assert runner.invoke(main, missing).exit_code == 2
    not_pem = tmp_path / "anchors.pem"
    not_pem.write_text("hello")
    result = runner.invoke(main, ["verify", "--trust-anchors", str(not_pem), str(videos[0])])
    assert result.exit_code == 2 and "PEM" in result.output


def test_watermark_and_record_disagreeing_is_flagged(small_clip, tmp_path) -> None:
    record = ProvenanceRecord(checkpoint_sha256="b" * 64)
    frames = watermark_frames(small_clip, Payload(checkpoint="aaaaaa"))
    path = write_video(tmp_path / "relabelled.mp4", frames, 25, metadata=record.to_metadata())
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert result.exit_code == 0
    assert "checkpoint aaaaaa" in result.output
    assert "the watermark names another checkpoint" in result.output
