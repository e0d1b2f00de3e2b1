"""Media behind fsspec URLs: decoded from a local copy kept in a file cache.

PyAV seeks in local files; a manifest on object storage (s3://, gs://, https://) names sources by
URL, so each source is copied once into a cache folder and read from there.
"""

from __future__ import annotations

import os
from pathlib import Path

import fsspec

CACHE_ENV = "OMNI_REMOTE_CACHE"


def cache_dir() -> Path:
    """Where remote sources are cached ($OMNI_REMOTE_CACHE, else ~/.cache/omni/remote)."""
    default = Path.home() / ".cache" / "omni" / "remote"
    return Path(os.environ.get(CACHE_ENV, default))


def local_path(path: str) -> str:
    """A local file path for `path`: itself if local, else a cached copy of the URL."""
    if "://" not in path:
        return path
    if path.startswith("file://"):
        return fsspec.core.strip_protocol(path)
    return fsspec.open_local(f"filecache::{path}", filecache={"cache_storage": str(cache_dir())})
