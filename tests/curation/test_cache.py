"""`omni curate cache`: the training datamodule's feature cache, built from a curated manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors import safe_open

from omni.curation.cache import CacheSettings, build_training_parts
from omni.curation.cli import curate
from omni.manifest import read_manifest
from omni.media import read_audio, read_video, write_video


@pytest.fixture(scope="module")
def probed(tmp_path_factory, footage):
    """A probed folder: three cacheable clips, one too short for a window, one unreadable."""
    root = tmp_path_factory.mktemp("cache_raw")
    src = footage("talk_news_b.mp4")
    video = read_video(src, 0, 2.0, fps=25, size=(64, 64)).frames
    audio = read_audio(src, 16000, 0, 2.0)
    write_video(root / "a.mp4", video[:30], 25, audio[: 16000 * 30 // 25])
    write_video(root / "b.mp4", video[20:50], 25, audio[16000 * 20 // 25 : 16000 * 50 // 25])
    write_video(root / "c.mp4", video[:25], 25)  # no audio stream
    write_video(root / "short.mp4", video[:6], 25)
    (root / "bad.mp4").write_bytes(b"not a video")
    _run("probe", root, "--out", root / "m.parquet")
    return root / "m.parquet"


def _run(*args, code: int = 0) -> str:
    result = CliRunner().invoke(curate, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def test_cache_accounts_for_every_row_and_fit_reuses_it(probed, tmp_path):
    out, cache = tmp_path / "cached.parquet", tmp_path / "cache"
    _run("cache", probed, "--out", out, "--cache-dir", cache, "--stage", "audio")
    df = read_manifest(out).df.set_index("source")
    assert len(df) == 5
    cached = df.loc[["a.mp4", "b.mp4", "c.mp4"]]
    per_split = {"train": 4, "val": 1}  # tiny: 4 training windows, validation's fixed one
    assert (cached["cache_windows"] == cached["cache_split"].map(per_split)).all()
    assert df.loc[["a.mp4", "b.mp4", "c.mp4"], "cache_error"].isna().all()
    assert df.loc["short.mp4", "cache_windows"] == 0
    assert "shorter than 9+1 frames" in df.loc["short.mp4", "cache_error"]
    assert df.loc["bad.mp4", "cache_error"].startswith("not cached: status=error")
    assert sorted(df["cache_split"].dropna()) == ["train", "train", "val"]

    # the shard a row names holds its latents and audio features
    row = df.loc["a.mp4"]
    with safe_open(str(out.parent / row["cache_shard"]), "pt") as f:
        rows = json.loads(f.metadata()["rows"])
        slots = [r["slot"] for r in rows if r["error"] is None]
        assert (
            len(slots)
            == sum(df["cache_split"] == row["cache_split"]) * per_split[row["cache_split"]]
        )
        latent = f.get_tensor(f"{slots[0]}.latent")
        assert latent.shape[1] == 9 and f.get_tensor(f"{slots[0]}.audio").shape[0] == 9
        assert latent.abs().sum() > 0
        # windows with 5 frames before them carry those frames' latents (motion frames)
        for r in rows:
            if r["error"] is None:
                assert r["motion"] == (r["start"] >= 5)
                assert (f"{r['slot']}.motion_latent" in set(f.keys())) == r["motion"]

    # `omni fit` with the same options on the output manifest finds the cache complete
    shards = sorted(cache.glob("*/shard-*.safetensors"))
    before = [p.stat().st_mtime_ns for p in shards]
    _, data = build_training_parts(str(out), CacheSettings(str(cache), "audio", "tiny"))
    data.setup("fit")
    assert data.cache_writer(data.train_table, "train").is_complete()
    assert data.cache_writer(data.val_table, "val").is_complete()
    assert [p.stat().st_mtime_ns for p in shards] == before


def test_interrupted_cache_resumes_and_other_settings_are_refused(probed, tmp_path):
    out, cache = tmp_path / "cached.parquet", tmp_path / "cache"
    _run("cache", probed, "--out", out, "--cache-dir", cache)
    first = read_manifest(out).df
    kept = cache / "val" / "shard-00000.safetensors"
    stamp = kept.stat().st_mtime_ns
    for path in ("train/shard-00000.safetensors", "train/index.parquet", "train/meta.json"):
        (cache / path).unlink()  # as if killed while writing the train shards
    _run("cache", probed, "--out", out, "--cache-dir", cache)
    again = read_manifest(out).df
    assert kept.stat().st_mtime_ns == stamp  # the finished split was not rebuilt
    cols = ["clip_id", "cache_split", "cache_shard", "cache_windows", "cache_error"]
    assert again[cols].equals(first[cols])
    assert np.all(again["cache_version"] == "2")

    # a cache folder made with other settings is a usage error naming the folder, exit 2
    output = _run(
        "cache", probed, "--out", out, "--cache-dir", cache, "--data.num_frames", "5", code=2
    )
    assert "holds a cache made for other data" in output
