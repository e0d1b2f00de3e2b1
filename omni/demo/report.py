"""The demo's outputs a person reads: a console summary table and one HTML page linking everything."""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

from omni.demo.effects import MIN_SAMPLES, Effect


def _num(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}"


def effect_row(e: Effect) -> dict[str, str]:
    """The columns shown for an effect (console and HTML alike)."""
    pct = round(100 * e.confidence)
    return {
        "claim": e.name,
        "measure": e.measure,
        "n": str(e.n),
        "matching": f"{_num(e.own)} ({e.own_label})",
        "mismatching": f"{_num(e.other)} ({e.other_label})",
        "difference": f"{_num(e.difference)} [{_num(e.ci_low)}, {_num(e.ci_high)}] {pct}% CI",
        "Cohen's d_z": f"{_num(e.cohen_dz, 2)} [{_num(e.dz_low, 2)}, {_num(e.dz_high, 2)}]",
        "holds": "yes"
        if e.significant
        else ("no" if e.n >= MIN_SAMPLES else f"no (n < {MIN_SAMPLES})"),
    }


def print_summary(steps: list[dict], effect_sets: dict[str, list[Effect]]) -> None:
    """Steps with their status and time, then each set of effects, as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="omni demo: steps")
    for column in ("step", "status", "seconds", "note"):
        table.add_column(column)
    for step in steps:
        table.add_row(step["name"], step["status"], f"{step['seconds']:.1f}", step.get("note", ""))
    console.print(table)
    for title, found in effect_sets.items():
        if not found:
            continue
        table = Table(title=title)
        rows = [effect_row(e) for e in found]
        for column in rows[0]:
            table.add_column(column)
        for row in rows:
            table.add_row(*row.values())
        console.print(table)


def _table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _link(target: Path, base: Path, text: str) -> str:
    rel = os.path.relpath(target, base)
    return f'<a href="{html.escape(rel)}">{html.escape(text)}</a>'


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.videos { display: flex; flex-wrap: wrap; gap: 1em; }
.videos figure { margin: 0; }
video { width: 192px; image-rendering: pixelated; }
img.plot { max-width: 100%; }
.note { color: #666; }
"""


def write_html(
    path: Path,
    steps: list[dict],
    effect_sets: dict[str, list[Effect]],
    links: dict[str, Path],
    videos: list[tuple[str, Path]],
    notes: list[str],
    commands: list[str] = (),
) -> Path:
    """One self-contained page (relative links) that opens from disk."""
    base = path.parent
    step_rows = [
        {
            "step": s["name"],
            "status": s["status"],
            "seconds": f"{s['seconds']:.1f}",
            "note": s.get("note", ""),
        }
        for s in steps
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>omni demo</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>omni demo</h1>",
        "<p>The whole pipeline on omni's built-in synthetic world; held-out identities and audio "
        "were never seen in training. Each claim pairs a matching and a mismatching condition per "
        "held-out sample; the difference is positive when the condition steers the output.</p>",
        "<h2>Steps</h2>",
        _table(step_rows),
    ]
    for title, found in effect_sets.items():
        parts += [f"<h2>{html.escape(title)}</h2>", _table([effect_row(e) for e in found])]
    if notes:
        parts.append(
            "<ul>" + "".join(f"<li class='note'>{html.escape(n)}</li>" for n in notes) + "</ul>"
        )
    if commands:
        parts.append("<h2>Commands run</h2><pre>" + html.escape("\n".join(commands)) + "</pre>")
    if links:
        parts.append("<h2>Outputs</h2><ul>")
        parts += [f"<li>{_link(p, base, name)}</li>" for name, p in links.items()]
        parts.append("</ul>")
        for name, p in links.items():
            if Path(p).suffix == ".png":
                rel = html.escape(os.path.relpath(p, base))
                parts.append(f"<h3>{html.escape(name)}</h3><img class='plot' src='{rel}' alt=''>")
    if videos:
        parts.append("<h2>Videos</h2><div class='videos'>")
        for caption, video in videos:
            rel = html.escape(os.path.relpath(video, base))
            parts.append(
                f"<figure><video src='{rel}' controls loop muted></video>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        parts.append("</div>")
    parts.append("</body></html>")
    _write_text(path, "\n".join(parts))
    return path


def write_json(path: Path, payload: dict) -> Path:
    """JSON with NaN/inf written as null / strings (strict JSON readers accept it)."""
    _write_text(path, json.dumps(_clean(payload), indent=2, sort_keys=True))
    return path


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if isinstance(x, Path):
        return str(x)
    return x


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
