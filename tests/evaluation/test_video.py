"""Video sources: timestamp resampling, bounded chunks, pairing by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omni import media
from omni.evaluation.video import array_video, open_video, pair_videos


def test_thirty_fps_file_streams_at_25_in_bounded_chunks(footage) -> None:
    src = open_video(footage("s32.mp4"), fps=25, chunk=7, max_seconds=2.0)
    sizes = [len(c) for c in src.chunks()]
    assert sum(sizes) == 50 and max(sizes) == 7  # 2 s at 25 fps, never more than a chunk
    assert src.audio is not None and len(src.audio) == 2 * 16000
    assert src.info["source_fps"] == pytest.approx(30)


def test_resampling_picks_the_frame_shown_at_each_time(tmp_path: Path) -> None:
    frames = np.repeat(np.arange(10, dtype=np.uint8) * 20, 16 * 16 * 3).reshape(10, 16, 16, 3)
    path = media.write_video(tmp_path / "ten.mp4", frames, fps=10, crf=0)
    src = open_video(path, fps=25, chunk=100)
    got = np.concatenate(list(src.chunks())).mean(axis=(1, 2, 3))  # grey level = 20 × index
    # time k/25 shows source frame floor(k * 10 / 25), whose grey level is 20 × its index
    expected = np.floor(np.arange(len(got)) * 10 / 25).astype(int) * 20
    assert len(got) == 23  # up to the last frame's start (0.9 s)
    assert np.abs(got - expected).max() <= 2


def test_array_video_checks_its_input() -> None:
    src = array_video("x", np.zeros((5, 8, 8, 3), np.uint8), fps=25, chunk=2)
    assert [len(c) for c in src.chunks()] == [2, 2, 1]
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        array_video("x", np.zeros((5, 8, 8)), fps=25)


def test_pairing_lists_unmatched_files_and_rejects_ambiguity(tmp_path: Path) -> None:
    gen, real = tmp_path / "gen", tmp_path / "real"
    gen.mkdir()
    real.mkdir()
    for path in (gen / "a.mp4", gen / "b.mp4", real / "a.mov", real / "c.mp4", gen / "notes.txt"):
        path.write_bytes(b"x")
    pairing = pair_videos(gen, real)
    assert [(n, g.name, r.name) for n, g, r in pairing.pairs] == [("a", "a.mp4", "a.mov")]
    assert sorted(Path(u["file"]).name for u in pairing.unmatched) == ["b.mp4", "c.mp4"]
    (gen / "a.webm").write_bytes(b"x")
    with pytest.raises(ValueError, match="two videos named 'a'"):
        pair_videos(gen, real)
    (gen / "a.webm").unlink()
    (real / "a.mov").unlink()
    with pytest.raises(ValueError, match="paired by file name"):
        pair_videos(gen, real)
