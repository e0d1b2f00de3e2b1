"""Fixtures for the training tests: a manifest of tiny grey clips (see tests/datamodules)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datamodules"))

from datamodules.grey_clips import make_clip, rows

from omni.manifest import write_manifest


@pytest.fixture(scope="session")
def train_manifest(tmp_path_factory) -> Path:
    """12 clip rows over 3 grey 48x32 videos with tone audio (rows share files, ids differ)."""
    root = tmp_path_factory.mktemp("train")
    for i in range(3):
        make_clip(root / f"v{i}.mp4")
    table = rows([f"c{i:02d}" for i in range(12)])
    for i, row in enumerate(table):
        row["source"] = f"v{i % 3}.mp4"
    return write_manifest(pd.DataFrame(table), root / "manifest.parquet")


@pytest.fixture(scope="session")
def broken_manifest(tmp_path_factory) -> Path:
    """12 clip rows, the even ones pointing at a file that is not a video (status ok)."""
    root = tmp_path_factory.mktemp("broken")
    make_clip(root / "good.mp4")
    (root / "bad.mp4").write_text("not a video")
    table = rows([f"c{i:02d}" for i in range(12)])
    for i, row in enumerate(table):
        row["source"] = "bad.mp4" if i % 2 == 0 else "good.mp4"
    return write_manifest(pd.DataFrame(table), root / "manifest.parquet")
