"""`omni curate report`: one self-contained HTML page (images inlined) that opens from disk."""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from omni.curation.filter import CONDITIONS, reason_counts
from omni.manifest import Manifest

# score column -> True when higher is better (best/worst thumbnails follow it)
SCORE_COLUMNS = {
    "face_present": True,
    "face_area": True,
    "face_yaw": False,
    "face_identity": True,
    "sync_conf": True,
    "sync_dist": False,
    "sync_offset": False,
    "pose_visibility": True,
    "pose_hands": True,
    "pose_jitter": False,
    "sharpness": True,
    "exposure": True,
    "noise": False,
    "aesthetic": True,
    "motion": True,
    "speech_activity": True,
}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _histogram(values: pd.Series, name: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 2.2))
    ax.hist(values.to_numpy(dtype=float), bins=20, color="#4a7ab7")
    ax.set_title(name, fontsize=9)
    ax.tick_params(labelsize=7)
    uri = _png(fig)
    plt.close(fig)
    return uri


def _thumbnail(m: Manifest, row, keypoints: bool = False) -> str | None:
    """The clip's middle frame, 160 px; with `keypoints`, its pose keypoints drawn (the side
    file's frame nearest in time) when the row has a readable side file."""
    from PIL import Image

    from omni.media import MediaError, read_video

    start = float(row.start_s) if pd.notna(row.start_s) else 0.0
    end = float(row.end_s) if pd.notna(row.end_s) else None
    middle = start if end is None else (start + end) / 2
    try:
        clip = read_video(m.resolve(row.source), middle, None, max_frames=1)
    except (MediaError, OSError):
        return None
    image = Image.fromarray(clip.frames[0])
    image.thumbnail((160, 160))
    if keypoints and isinstance(row.get("keypoints_path"), str):  # drawn at the thumbnail's size
        from omni.pose import draw_side_file

        path = m.resolve(row.keypoints_path)
        image = Image.fromarray(draw_side_file(np.asarray(image), path, float(clip.times[0])))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _score_section(m: Manifest, column: str, higher_better: bool, thumbs: int) -> str:
    values = pd.to_numeric(m.df[column], errors="coerce")
    valid = values.dropna()
    if valid.empty:
        return (
            f"<section><h3>{column}</h3><p>no values (scorer not run or unavailable)</p></section>"
        )
    parts = [f'<section><h3>{column}</h3><img src="{_histogram(valid, column)}" alt="{column}">']
    order = valid.sort_values(ascending=not higher_better)
    for label, index in (("best", order.index[:thumbs]), ("worst", order.index[::-1][:thumbs])):
        cells = []
        for i in index:
            row = m.df.loc[i]
            uri = _thumbnail(m, row, keypoints=column.startswith("pose_"))
            img = f'<img src="{uri}" alt="{html.escape(row.clip_id)}">' if uri else "(no frame)"
            cells.append(
                f"<figure>{img}<figcaption>{html.escape(row.clip_id)}: {values[i]:.3g}</figcaption></figure>"
            )
        parts.append(f"<div class='row'><b>{label}</b>{''.join(cells)}</div>")
    return "".join(parts) + "</section>"


def _pass_rates(df: pd.DataFrame) -> str:
    rows = []
    why = reason_counts(df)
    for condition in CONDITIONS:
        column = f"eligible_{condition}"
        flags = df[column].dropna() if column in df else pd.Series(dtype=bool)
        rate = f"{flags.astype(bool).mean():.1%}" if len(flags) else "not filtered"
        reasons = ", ".join(f"{html.escape(k)} {n}" for k, n in why[condition].most_common())
        rows.append(
            f"<tr><td>{condition}</td><td>{int(flags.astype(bool).sum())}</td><td>{rate}</td>"
            f"<td>{reasons}</td></tr>"
        )
    return (
        "<table><tr><th>condition</th><th>eligible</th><th>pass rate</th>"
        "<th>rows failing each check (a row may fail several)</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def write_report(m: Manifest, out: str | os.PathLike, thumbs: int = 3) -> Path:
    """Write the report page atomically; returns its path."""
    df = m.df
    sections = [
        _score_section(m, c, better, thumbs) for c, better in SCORE_COLUMNS.items() if c in df
    ]
    table = df.to_html(index=False, na_rep="", float_format=lambda x: f"{x:.4g}", escape=True)
    status = df["status"].value_counts().to_dict()
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>omni curation report</title>
<style>body{{font-family:sans-serif;margin:1em}} section{{display:inline-block;vertical-align:top;
margin:0 1em 1em 0;max-width:560px}} .row{{display:flex;gap:4px;align-items:center}}
figure{{margin:2px;font-size:10px}} table{{border-collapse:collapse;font-size:11px}}
td,th{{border:1px solid #ccc;padding:2px 4px}}</style></head><body>
<h1>omni curation report</h1><p>{len(df)} rows; status {html.escape(str(status))}; root {html.escape(m.root)}</p>
<h2>Pass rate per condition</h2>{_pass_rates(df)}
<h2>Scores</h2>{"".join(sections) or "<p>no scores yet: run <code>omni curate score</code></p>"}
<h2>All rows</h2>{table}</body></html>"""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, out)
    return out
