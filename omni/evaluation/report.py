"""report.html: one self-contained page (images inline) that opens from disk.

Summary of every metric (value, the real videos' value, or why it is unavailable and how to
enable it), plots of the per-video scores and sync curves, a per-video table, and side-by-side
frames (first, middle, last) of each generated video and its real namesake.
"""

from __future__ import annotations

import base64
import io
import math
from html import escape

import numpy as np

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.na{color:#999}.pair img{margin:2px}
.pair{display:inline-block;margin:0 1.5em 1.5em 0;vertical-align:top}figure{display:inline-block}
"""
ROW_KEYS = [
    "frames",
    "audio",
    "sync_c",
    "sync_d",
    "sync_offset",
    "landmark_sync_corr",
    "landmark_sync_conf",
    "landmark_sync_dist",
    "landmark_sync_offset",
    "hkc",
    "hkv",
]


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '<span class="na">–</span>'
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _jpeg(image: np.ndarray) -> str:
    import cv2

    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        return ""
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(data.tobytes()).decode()}">'


def _summary(metrics: dict) -> str:
    rows = []
    for name, m in metrics["metrics"].items():
        if m.get("status") == "unavailable":
            detail = f"{escape(m['reason'])}; enable with <code>{escape(m['enable_with'])}</code>"
            rows.append(
                f'<tr><td class="l">{name}</td><td colspan="4" class="l na">unavailable: {detail}</td></tr>'
            )
            continue
        version = f'<td class="l">{escape(str(m.get("version", "")))}</td>'
        if m.get("status") != "ok":
            rows.append(
                f'<tr><td class="l">{name}</td><td colspan="3" class="l na">{escape(m.get("reason", m["status"]))}</td>{version}</tr>'
            )
            continue
        count = m.get("generated_samples", m.get("videos"))
        count = f"{count} {m.get('unit', 'videos')}"
        rows.append(
            f'<tr><td class="l">{name}</td><td>{_fmt(m.get("value"))}</td>'
            f"<td>{_fmt(m.get('real_value'))}</td><td>{escape(count)}</td>{version}</tr>"
        )
    head = (
        '<tr><th class="l">metric</th><th>generated</th><th>real</th><th>samples</th>'
        '<th class="l">version</th></tr>'
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _bars(metrics: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    videos = metrics["videos"]
    scored = [k for k in _plugin_keys(metrics) if k in metrics["metrics"]]  # ASE, plug-ins
    candidates = [*ROW_KEYS[2:], *scored]
    keys = [k for k in candidates if any(_num(v.get("generated", {}).get(k)) for v in videos)]
    if not keys or not videos:
        return ""
    cols = min(4, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat[len(keys) :]:
        ax.axis("off")
    x = np.arange(len(videos))
    for ax, key in zip(axes.flat, keys, strict=False):
        for shift, side in ((-0.2, "generated"), (0.2, "real")):
            values = [_num(v.get(side, {}).get(key)) or np.nan for v in videos]
            ax.bar(x + shift, values, width=0.4, label=side)
        ax.set_title(key, fontsize=9)
        ax.set_xticks(x, [v["name"] for v in videos], rotation=60, fontsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _curves(loaded: list) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [("syncnet", "SyncNet mean distance"), ("landmark_sync", "landmark sync correlation")]
    out = []
    for kind, label in kinds:
        series = [
            (n, s, r.curves[kind]) for n, res in loaded for s, r in res.items() if kind in r.curves
        ]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6, 3))
        for name, side, curve in series:
            offsets = np.arange(len(curve)) - len(curve) // 2
            ax.plot(offsets, curve, "-" if side == "generated" else "--", label=f"{name} ({side})")
        ax.set_xlabel("audio shift (frames)")
        ax.set_ylabel(label)
        ax.legend(fontsize=6)
        out.append(_png(fig))
    return "".join(out)


def _num(value) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _plugin_keys(metrics: dict) -> list[str]:
    """Row keys beyond the built-in ones: ASE and plug-in scores."""
    return sorted(
        {k for v in metrics["videos"] for r in v.values() if isinstance(r, dict) for k in r}
        - set(ROW_KEYS)
        - {"name", "path", "notes", "seconds", "height", "width"}
    )


def _video_table(metrics: dict) -> str:
    head = "".join(f"<th>{k}</th>" for k in ROW_KEYS)
    plugin = _plugin_keys(metrics)
    head += "".join(f"<th>{escape(k)}</th>" for k in plugin)
    rows = []
    for video in metrics["videos"]:
        for side in ("generated", "real"):
            row = video.get(side)
            if row is None:
                continue
            cells = "".join(f"<td>{_fmt(row.get(k))}</td>" for k in [*ROW_KEYS, *plugin])
            notes = escape("; ".join(row.get("notes", [])))
            rows.append(
                f'<tr><td class="l">{escape(video["name"])}</td><td class="l">{side}</td>{cells}'
                f'<td class="l">{notes}</td></tr>'
            )
    return (
        f'<table><tr><th class="l">video</th><th class="l">side</th>{head}'
        f'<th class="l">notes</th></tr>{"".join(rows)}</table>'
    )


def _frames(loaded: list) -> str:
    out = []
    for name, results in loaded:
        rows = []
        for side in ("generated", "real"):
            result = results.get(side)
            if result is not None and result.thumbs is not None:
                images = "".join(_jpeg(t) for t in result.thumbs)
                rows.append(f"<div>{side}<br>{images}</div>")
        if rows:
            out.append(f'<div class="pair"><b>{escape(name)}</b>{"".join(rows)}</div>')
    return "".join(out)


def render_report(metrics: dict, loaded: list) -> str:
    """The HTML page. `loaded` = [(name, {side: VideoResult})] for curves and thumbnails."""
    skipped = "".join(
        f"<li>{escape(s.get('side', ''))} {escape(s['file'])}: {escape(s['reason'])}</li>"
        for s in metrics.get("skipped", [])
    )
    weights = "".join(
        f"<li>{escape(k)}: {escape(w['path'])} (sha256 {w['sha256'][:16]}…, {escape(w['version'])})</li>"
        for k, w in metrics.get("weights", {}).items()
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>omni test report</title><style>{_CSS}</style></head>
<body><h1>omni test</h1>
<p>generated: <code>{escape(str(metrics.get("generated")))}</code> · real:
<code>{escape(str(metrics.get("real")))}</code> · {escape(metrics["created_utc"])}</p>
<h2>Metrics</h2>{_summary(metrics)}
<p>Landmark sync is omni's weights-free mouth-opening × audio-envelope score, not SyncNet's
Sync-C/Sync-D. HKV is closer-to-real-is-better.</p>
<h2>Per video</h2>{_bars(metrics)}{_video_table(metrics)}
<h2>Sync curves</h2>{_curves(loaded) or "<p>none computed</p>"}
<h2>Frames (first, middle, last)</h2>{_frames(loaded)}
<h2>Weights</h2><ul>{weights or "<li>none</li>"}</ul>
<h2>Skipped</h2><ul>{skipped or "<li>none</li>"}</ul>
</body></html>
"""
