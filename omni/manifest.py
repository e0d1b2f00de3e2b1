"""The clip manifest: one pyarrow schema, versioned, read and written atomically.

Every curation step reads a manifest and writes the same rows plus its own columns; the
datamodules read it for training. Paths in `source` (and side-data path columns) are relative to
the manifest's root, which is the folder holding the manifest unless its metadata names another.
The columns and who writes them are documented in docs/manifest.md.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 1
_META_KEY = b"omni.manifest"

# Base columns every manifest has (the design brief's contract). Scorers add theirs through
# `register_columns`, each with a `<scorer>_version` column.
BASE_FIELDS: list[pa.Field] = [
    # identity
    pa.field("clip_id", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("start_s", pa.float64()),
    pa.field("end_s", pa.float64()),
    # media
    pa.field("fps", pa.float64()),
    pa.field("num_frames", pa.int64()),
    pa.field("width", pa.int64()),
    pa.field("height", pa.int64()),
    pa.field("has_audio", pa.bool_()),
    pa.field("audio_sr", pa.int64()),
    pa.field("rotation", pa.int64()),
    # text
    pa.field("caption", pa.string()),
    # decisions
    pa.field("status", pa.string(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("eligible_text_ref", pa.bool_()),
    pa.field("eligible_audio", pa.bool_()),
    pa.field("eligible_pose", pa.bool_()),
    pa.field("reject_reason", pa.string()),
]
STATUS_OK = "ok"
STATUS_ERROR = "error"

_EXTRA_FIELDS: dict[str, pa.Field] = {}


def register_columns(*fields: pa.Field) -> None:
    """Declare columns a curation step adds, so every manifest writes them with one type."""
    for field in fields:
        known = _EXTRA_FIELDS.get(field.name)
        if known is not None and known.type != field.type:
            raise ValueError(
                f"column {field.name!r} registered twice: {known.type} vs {field.type}"
            )
        _EXTRA_FIELDS[field.name] = field


def schema_for(columns: list[str]) -> pa.Schema:
    """The manifest schema for a table with these columns (base columns first, then the rest)."""
    base_names = [f.name for f in BASE_FIELDS]
    extra = [c for c in columns if c not in base_names]
    unknown = [c for c in extra if c not in _EXTRA_FIELDS]
    if unknown:
        raise ValueError(
            f"columns {unknown} are not declared; call omni.manifest.register_columns first"
        )
    return pa.schema(
        [f for f in BASE_FIELDS if f.name in columns] + [_EXTRA_FIELDS[c] for c in extra]
    )


class ManifestError(ValueError):
    """A manifest that omni cannot read: wrong version, missing columns, not a manifest."""


@dataclass
class Manifest:
    """Rows (a DataFrame) plus the root their relative paths resolve against."""

    df: pd.DataFrame
    root: str

    def resolve(self, relative: str) -> str:
        """Absolute path or URL of a path stored relative to the root."""
        if "://" in relative or os.path.isabs(relative):
            return relative
        if "://" in self.root:
            return posixpath.join(self.root, relative)
        return str(Path(self.root) / relative)

    def ok(self) -> pd.DataFrame:
        """Rows that decoded and were scored without error (the only ones ever sampled)."""
        return self.df[self.df["status"] == STATUS_OK]


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read a manifest from a local path or any fsspec URL; reject other schema versions."""
    path = str(path)
    with fsspec.open(path, "rb") as f:
        try:
            table = pq.read_table(f)
        except (pa.ArrowInvalid, OSError) as err:
            raise ManifestError(f"{path}: not a Parquet manifest ({err})") from err
    meta = json.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    version = meta.get("version")
    if version != SCHEMA_VERSION:
        raise ManifestError(
            f"{path}: manifest schema version {version!r}, this omni reads version {SCHEMA_VERSION}; "
            "re-run `omni curate probe` (or the step that wrote it) with this version"
        )
    missing = [f.name for f in BASE_FIELDS if f.name not in table.column_names]
    if missing:
        raise ManifestError(f"{path}: missing manifest columns {missing}")
    base = path.rsplit("/", 1)[0] if "://" in path else str(Path(path).resolve().parent)
    root = meta.get("root") or "."
    if "://" not in root and not os.path.isabs(root):
        root = (
            posixpath.normpath(posixpath.join(base, root))
            if "://" in base
            else str(Path(base) / root)
        )
    return Manifest(table.to_pandas(), str(Path(root).resolve()) if "://" not in root else root)


def write_manifest(
    df: pd.DataFrame, path: str | os.PathLike, root: str | os.PathLike | None = None
) -> Path:
    """Write rows atomically (temp file + rename) with the versioned schema.

    `root` is where `source` paths resolve; by default the manifest's own folder. It is stored
    relative to the manifest when possible, so a dataset folder can be moved as a whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root_str = "."
    if root is not None:
        root_path = Path(root).resolve()
        try:
            root_str = os.path.relpath(root_path, path.parent.resolve())
        except ValueError:  # another drive on Windows
            root_str = str(root_path)
    missing = [f.name for f in BASE_FIELDS if not f.nullable and f.name not in df.columns]
    if missing:
        raise ManifestError(f"cannot write a manifest without columns {missing}")
    df = df.copy()
    for f in BASE_FIELDS:
        if f.name not in df.columns:
            df[f.name] = None
    schema = schema_for(list(df.columns))
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    meta = {"version": SCHEMA_VERSION, "root": root_str}
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
