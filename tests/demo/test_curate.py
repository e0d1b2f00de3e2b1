"""The demo's curation glue: generator truth joined onto probe's rows, split by held-out flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from omni.demo import curate, synth
from omni.manifest import read_manifest


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
    parts = curate.split_curated(joined, tmp_path / "split")
    assert len(read_manifest(parts["train"]).df) == 2
    held = read_manifest(parts["heldout"])
    assert (
        list(held.df.synth_split) == ["heldout"] and Path(held.resolve(held.df.source[0])).exists()
    )
