"""The demo's curation glue: generator truth joined onto probe's rows, split by held-out flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from omni.demo import curate, synth
from omni.manifest import read_manifest, write_manifest


def test_probe_rows_get_the_generator_truth(tmp_path):
    pytest.importorskip("omni.curation.cli", reason="omni curate not in this build")
    from omni.curation.cli import curate as group

    data = tmp_path / "data"
    synth.make_demo_dataset(data, n_clips=3, seconds=0.4, size=64, held_out=1, progress=False)
    log: list[str] = []
    curate.run_command(
        group, ["probe", str(data / "videos"), "--out", str(tmp_path / "probe.parquet")], log
    )
    assert log == [f"omni curate probe {data / 'videos'} --out {tmp_path / 'probe.parquet'}"]
    joined = curate.join_truth(
        tmp_path / "probe.parquet", data / "all.parquet", tmp_path / "joined.parquet"
    )
    manifest = read_manifest(joined)
    truth = read_manifest(data / "all.parquet").df.set_index("clip_id")
    assert sorted(manifest.df.clip_id) == sorted(truth.index)
    for row in manifest.df.itertuples():
        assert row.caption == truth.loc[row.clip_id, "caption"]
        assert Path(manifest.resolve(row.synth_truth)).exists()
        assert Path(manifest.resolve(row.source)).exists()
    face = manifest.df.clip_id.str.endswith("-face")
    flagged = manifest.df.assign(eligible_audio=True, face_area=face.map({True: 0.3, False: 0.05}))
    curated = write_manifest(flagged, tmp_path / "curated.parquet", root=manifest.root)
    parts = curate.split_curated(curated, tmp_path / "split", audio_min_face_area=0.1)
    train = read_manifest(parts["train"]).df
    assert len(train) == 2
    audio = read_manifest(parts["train_audio"]).df  # the audio stage's clips
    assert list(audio.clip_id) == [c for c in train.clip_id if c.endswith("-face")]
    assert 0 < len(audio) < len(train), list(train.clip_id)
    held = read_manifest(parts["heldout"])
    assert (
        list(held.df.synth_split) == ["heldout"] and Path(held.resolve(held.df.source[0])).exists()
    )
