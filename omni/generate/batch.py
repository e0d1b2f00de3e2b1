"""`--batch jobs.csv`: many generations with one loaded model, resuming past finished jobs.

One row per job. `ref` and `out` are required; every other column is optional and, when present
and non-empty, overrides the command-line value for that row. Relative paths are taken from the
CSV's folder. A job whose `out` already exists is finished (videos are written atomically, so an
existing file is complete) and is skipped. Every row ends up in `<jobs>.status.csv` with its
outcome and reason; one failing job never stops the others.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED_COLUMNS = ("ref", "out")
PATH_COLUMNS = ("ref", "audio", "pose", "out")
NUMBER_COLUMNS: dict[str, type] = {
    "seconds": float,
    "seed": int,
    "steps": int,
    "fps": float,
    "cfg_text": float,
    "cfg_audio": float,
    "cfg_text_end": float,
    "cfg_audio_end": float,
}
TEXT_COLUMNS = ("text", "cfg_schedule", "pose_fit", "resolution")
COLUMNS = (*PATH_COLUMNS, *NUMBER_COLUMNS, *TEXT_COLUMNS)


@dataclass
class Job:
    """One row: its 1-based row number (after the header) and its non-empty values."""

    row: int
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return self.values["out"]


def read_jobs(path: str | os.PathLike) -> list[Job]:
    """Parse and check a jobs CSV; every problem is reported with its row number."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"jobs file {str(path)!r} does not exist (expected a CSV, one row per job)"
        )
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        unknown = sorted(set(header) - set(COLUMNS))
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if unknown or missing:
            raise ValueError(
                f"{path}: columns {header}; missing {missing}, unknown {unknown}. "
                f"Expected {list(REQUIRED_COLUMNS)} plus any of {sorted(set(COLUMNS) - set(REQUIRED_COLUMNS))}."
            )
        jobs = [_job(path.parent, i, row) for i, row in enumerate(reader, start=1)]
    if not jobs:
        raise ValueError(f"{path}: no jobs (the CSV has a header but no rows)")
    outs = [j.out.resolve() for j in jobs]
    dup = sorted({str(o) for o in outs if outs.count(o) > 1})
    if dup:
        raise ValueError(
            f"{path}: several jobs write the same output {dup}; give each its own `out`"
        )
    return jobs


def _job(root: Path, number: int, row: dict[str, str | None]) -> Job:
    values: dict[str, Any] = {}
    for key, raw in row.items():
        key = (key or "").strip()
        text = (raw or "").strip() if key != "text" else (raw or "")
        if not key or text == "":
            continue
        if key in PATH_COLUMNS:
            p = Path(text).expanduser()
            values[key] = p if p.is_absolute() else root / p
        elif key in NUMBER_COLUMNS:
            try:
                values[key] = NUMBER_COLUMNS[key](text)
            except ValueError as err:
                kind = NUMBER_COLUMNS[key].__name__
                raise ValueError(f"row {number}: {key}={text!r} is not a valid {kind}") from err
        else:
            values[key] = text
    for key in REQUIRED_COLUMNS:
        if key not in values:
            raise ValueError(f"row {number}: `{key}` is empty; every job needs ref and out")
    return Job(number, values)


@dataclass
class JobOutcome:
    row: int
    out: str
    status: str
    """done, skipped (already finished) or failed."""
    reason: str = ""
    seconds: float | None = None


def write_status(path: str | os.PathLike, outcomes: list[JobOutcome]) -> Path:
    """Write the per-job outcomes as CSV, atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".csv.part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["row", "out", "status", "reason", "seconds"])
            for o in outcomes:
                secs = "" if o.seconds is None else f"{o.seconds:.3f}"
                writer.writerow([o.row, o.out, o.status, o.reason, secs])
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def status_path(jobs_path: str | os.PathLike) -> Path:
    p = Path(jobs_path)
    return p.with_name(f"{p.stem}.status.csv")
