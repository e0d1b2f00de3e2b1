"""write_marked_video + verify: the API generation calls and what `omni verify` reports."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from omni.media import read_audio, read_video
from omni.provenance.record import ProvenanceRecord
from omni.provenance.video import verify, write_marked_video

RECORD = ProvenanceRecord(
    checkpoint_sha256="c0ffee" + "0" * 58, seed=11, conditions={"audio": "speech.wav"}
)


@pytest.fixture(scope="module")
def written(tmp_path_factory, small_clip, credentials):
    """One marked + signed video (with audio), one written with watermark=False."""
    folder = tmp_path_factory.mktemp("videos")
    tone = np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000).astype(np.float32) * 0.3
    signed = write_marked_video(
        folder / "signed.mp4", small_clip, 25, tone, 16000, RECORD,
        sign_key=credentials.key, sign_cert=credentials.chain,
    )  # fmt: skip
    plain = write_marked_video(folder / "plain.mp4", small_clip, 25, record=RECORD, watermark=False)
    return signed, plain


def test_marked_signed_video_verifies(written, credentials, small_clip) -> None:
    signed, _ = written
    report = verify(signed, trust_anchors=credentials.ca)
    assert report.marked and report.error is None
    assert report.watermark.payload.checkpoint == "c0ffee"
    assert report.record.seed == 11 and report.record.watermark is True
    assert report.consistent is True
    assert report.c2pa.trusted and report.c2pa.record["seed"] == 11
    # the video and its audio survive signing: same frames count, the tone is there
    assert len(read_video(signed).frames) == len(small_clip)
    assert np.abs(read_audio(signed, sr=16000)).max() > 0.2
    assert list(signed.parent.glob(".signed*")) == []  # no temporary left behind


def test_no_watermark_is_recorded(written) -> None:
    _, plain = written
    report = verify(plain)
    assert not report.marked and report.watermark.payload is None
    assert report.record.watermark is False and report.consistent is None
    assert not report.c2pa.present
    with av.open(str(plain)) as container:
        assert "WITHOUT an invisible watermark" in container.metadata["description"]


def test_report_is_json_ready(written) -> None:
    report = verify(written[0]).to_dict()
    text = json.dumps(report)
    assert json.loads(text)["watermark"]["confidence"] > 0.999999


def test_unreadable_and_missing_files_get_reports(tmp_path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    report = verify(fake)
    assert not report.marked and report.watermark is None and "not a readable" in report.error
    missing = verify(tmp_path / "missing.mp4")
    assert not missing.marked and "no such file" in missing.error


def test_real_footage_is_not_marked(footage) -> None:
    report = verify(footage("d18.mp4"))
    assert not report.marked and report.record is None and not report.c2pa.present
    assert report.watermark.p_value > 1e-4


def test_signing_needs_key_and_certificate(small_clip, tmp_path, credentials) -> None:
    with pytest.raises(ValueError, match="both sign_key and sign_cert"):
        write_marked_video(tmp_path / "x.mp4", small_clip, 25, sign_key=credentials.key)
    assert not (tmp_path / "x.mp4").exists()


def test_noise_like_output_is_reported_unmarked(tmp_path) -> None:
    """An untrained model's noise, enlarged x4 as omni generate does, loses the mark in h264
    (docs/benchmarks.md#provenance-watermark): verify says so instead of claiming a mark."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8).repeat(4, 1).repeat(4, 2)
    for watermark in (True, False):
        path = write_marked_video(tmp_path / f"{watermark}.mp4", noise, 25, watermark=watermark)
        report = verify(path)
        assert not report.marked and report.watermark.payload is None
        assert report.watermark.p_value > 1e-3 and report.record.watermark is watermark
