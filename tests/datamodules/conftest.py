"""Fixtures for the datamodule tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from datamodules.grey_clips import make_clip, rows
from omni.manifest import write_manifest


@pytest.fixture(scope="session")
def grey_manifest(tmp_path_factory) -> Path:
    """4 clips (48x32, 30 frames, with tone audio) + one error row, as a manifest."""
    root = tmp_path_factory.mktemp("grey")
    names = [f"c{i}" for i in range(4)]
    for name in names:
        make_clip(root / f"{name}.mp4")
    table = [*rows(names), {**rows(["broken"])[0], "status": "error", "error": "unreadable"}]
    return write_manifest(pd.DataFrame(table), root / "manifest.parquet")
