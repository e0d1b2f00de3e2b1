"""The manifest contract: versioned schema, atomic writes, root-relative paths."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omni import manifest


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "clip_id": ["a", "b"],
            "source": ["videos/a.mp4", "videos/b.mp4"],
            "start_s": [0.0, 1.5],
            "end_s": [2.0, 3.5],
            "status": ["ok", "error"],
            "error": [None, "truncated file"],
        }
    )


def test_round_trip_keeps_rows_and_resolves_paths(tmp_path):
    out = manifest.write_manifest(_rows(), tmp_path / "m" / "clips.parquet", root=tmp_path)
    m = manifest.read_manifest(out)
    assert list(m.df["clip_id"]) == ["a", "b"]
    assert m.df["eligible_audio"].isna().all()  # base columns exist even when not yet decided
    assert m.resolve("videos/a.mp4") == str(tmp_path / "videos" / "a.mp4")
    assert list(m.ok()["clip_id"]) == ["a"]


def test_unknown_version_is_rejected(tmp_path):
    path = manifest.write_manifest(_rows(), tmp_path / "clips.parquet")
    table = pq.read_table(path)
    meta = {b"omni.manifest": json.dumps({"version": 99, "root": "."}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(manifest.ManifestError, match="version 99"):
        manifest.read_manifest(path)


def test_undeclared_columns_are_refused(tmp_path):
    df = _rows().assign(mystery=[1, 2])
    with pytest.raises(ValueError, match="mystery"):
        manifest.write_manifest(df, tmp_path / "clips.parquet")
    manifest.register_columns(pa.field("mystery", pa.int64()))
    out = manifest.read_manifest(manifest.write_manifest(df, tmp_path / "clips.parquet"))
    assert list(out.df["mystery"]) == [1, 2]


def test_write_leaves_no_partial_file(tmp_path):
    manifest.write_manifest(_rows(), tmp_path / "clips.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["clips.parquet"]
