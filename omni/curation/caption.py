"""`omni curate caption`: a plain-text caption per clip from the sources a user lists, in order.

Each ok row walks `--source` (default `manifest,sidecar,table,model,clip,template`, leaving out
sources without their option) and takes the first non-empty caption; `caption_source` names it
(`none` when every source came up empty: the caption is then "" and training drops the text
condition for that clip). A source that fails on a row (missing file, undecodable video, model
error) adds its reason to `caption_error` and the next source is tried. Captions are cut at a word
boundary to the text encoder's token budget (open_clip BPE, `--max-tokens` including the start
and end tokens).

Resumable like `score`: results are flushed to `OUT.parts/` every chunk; rows whose
`caption_version` is current and have no `caption_error` are skipped on a re-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pyarrow as pa

from omni.curation import captioners as cap
from omni.manifest import register_columns

CAPTION_STEP_VERSION = "1"
SOURCES = ("manifest", "sidecar", "table", "model", "clip", "template")
DEFAULT_MAX_TOKENS = 77  # omni.model.text.SmallTextEncoder's context length (open_clip's)
register_columns(
    pa.field("caption_source", pa.string()),
    pa.field("caption_version", pa.string()),
    pa.field("caption_error", pa.string()),
)


@dataclass
class CaptionConfig:
    """Sources in order and their options."""

    sources: list[str] = field(default_factory=lambda: ["manifest", "sidecar", "template"])
    """Caption sources, first non-empty wins."""
    table: str | None = None
    """CSV/TSV/Parquet with one caption per clip."""
    table_key: str = "clip_id"
    """Join column: `clip_id`, or `path` (the video path, root-relative like `source` or absolute)."""
    table_column: str = "caption"
    """Column of the table holding the caption."""
    captioner: str | None = None
    """Local `transformers` captioner folder."""
    frames_per_clip: int = 3
    """Frames per clip for the captioner and the tagger."""
    batch_size: int = 8
    """Images per forward pass."""
    device: str = "cpu"
    """torch device of the captioner and the tagger."""
    max_new_tokens: int = 40
    """Generation length of the captioner."""
    prompt: str = cap.DEFAULT_PROMPT
    """Instruction for chat-template (image-text-to-text) captioners; BLIP-style ones ignore it."""
    clip_weights: str | None = None
    """open_clip local-dir, or checkpoint file (with clip_model)."""
    clip_model: str | None = None
    """open_clip architecture of a checkpoint file."""
    max_tokens: int = DEFAULT_MAX_TOKENS
    """Text encoder context length in tokens, start and end tokens included."""

    def version(self) -> str:
        """`caption_version`: step version, sources with their weights/options, token budget."""
        parts = []
        for source in self.sources:
            if source == "table":
                from omni.curation.pretrained import weights_tag

                tag = weights_tag(self.table)
                parts.append(f"table@{tag}:{self.table_key}:{self.table_column}")
            elif source == "model":
                options = f"f{self.frames_per_clip}:n{self.max_new_tokens}"
                if self.prompt != cap.DEFAULT_PROMPT:
                    options += f":p{hash_text(self.prompt)}"
                parts.append(f"model@{cap.folder_tag(self.captioner)}:{options}")
            elif source == "clip":
                parts.append(f"clip@{_clip_tag(self.clip_weights)}:f{self.frames_per_clip}")
            else:
                parts.append(source)
        return f"{CAPTION_STEP_VERSION}/{','.join(parts)}/t{self.max_tokens}"


def hash_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _clip_tag(weights: str) -> str:
    from omni.curation.pretrained import weights_tag

    return cap.folder_tag(weights) if Path(weights).is_dir() else weights_tag(weights)


def resolve_sources(names: str | None, config: CaptionConfig) -> list[str]:
    """The `--source` list; by default every source whose option is given. Raises ValueError."""
    needs = {"table": config.table, "model": config.captioner, "clip": config.clip_weights}
    if names is None:
        return [s for s in SOURCES if s not in needs or needs[s]]
    sources = [s.strip() for s in names.split(",") if s.strip()]
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise ValueError(f"--source: unknown {unknown or sources}; choose from {list(SOURCES)}")
    options = {"table": "--table FILE", "model": "--captioner DIR", "clip": "--clip-weights"}
    for source in sources:
        if source in needs and not needs[source]:
            raise ValueError(f"--source {source} needs {options[source]}")
    return sources


# ---------------------------------------------------------------- token budget


class Trimmer:
    """Cuts captions at a word boundary to `max_tokens` open_clip BPE tokens (start/end included)."""

    def __init__(self, max_tokens: int) -> None:
        from omni.model.text import _bpe_tokenizer_module

        if max_tokens < 3:
            raise ValueError(f"--max-tokens must be >= 3 (start + end + 1 word), got {max_tokens}")
        self.tokenizer = _bpe_tokenizer_module().SimpleTokenizer()
        self.budget = max_tokens - 2

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def __call__(self, text: str) -> tuple[str, bool]:
        """(caption within the budget, whether it was cut)."""
        if self.count(text) <= self.budget:
            return text, False
        words = text.split()
        lo, hi = 0, len(words)  # the longest prefix of `lo` words fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.count(" ".join(words[:mid])) <= self.budget:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[:lo]).rstrip(",;:"), True


# ---------------------------------------------------------------- one chunk of rows


def pending_mask(df: pd.DataFrame, version: str) -> np.ndarray:
    """Ok rows without a current, error-free caption."""
    have = df["caption_version"] if "caption_version" in df else pd.Series([None] * len(df))
    errors = df["caption_error"] if "caption_error" in df else pd.Series([None] * len(df))
    done = (have.to_numpy() == version) & errors.isna().to_numpy()
    return ~done & (df["status"] == "ok").to_numpy()


@dataclass
class _Row:
    record: dict
    path: str
    caption: str | None = None
    source: str = "none"
    errors: list[str] = field(default_factory=list)
    frames: list[np.ndarray] | None = None
    decoded: bool = False


def _frames(row: _Row, config: CaptionConfig) -> list[np.ndarray] | None:
    """The row's frames, decoded once (a failure is recorded once and gives None)."""
    from omni.media import MediaError

    if not row.decoded:
        row.decoded = True
        r = row.record
        start = float(r["start_s"]) if pd.notna(r.get("start_s")) else 0.0
        end = float(r["end_s"]) if pd.notna(r.get("end_s")) else None
        try:
            row.frames = cap.clip_frames(row.path, start, end, config.frames_per_clip)
        except (MediaError, OSError) as err:
            row.errors.append(f"decode: {err}")
    return row.frames


def _take(row: _Row, text: str | None, source: str) -> None:
    text = cap.clean(text) if text is not None else ""
    if text:
        row.caption, row.source = text, source


def _simple(rows: list[_Row], source: str, config: CaptionConfig, table: dict | None) -> None:
    for row in rows:
        r = row.record
        try:
            if source == "manifest":
                _take(row, _manifest_caption(r), source)
            elif source == "sidecar":
                _take(row, cap.sidecar_caption(row.path), source)
            elif source == "table" and config.table_key == "clip_id":
                _take(row, table.get(str(r["clip_id"])), source)
            elif source == "table":
                _take(row, table.get(cap.path_key(r["source"])) or table.get(row.path), source)
            elif source == "template":
                _take(row, cap.template_caption(r), source)
        except (OSError, ValueError, UnicodeDecodeError) as err:
            row.errors.append(f"{source}: {err}")


def _manifest_caption(record: dict) -> str | None:
    """A caption already in the row that another tool wrote (not one of this step's own)."""
    ours = record.get("caption_source")
    if isinstance(ours, str) and ours != "manifest":
        return None
    caption = record.get("caption")
    return caption if isinstance(caption, str) else None


def _model(rows: list[_Row], config: CaptionConfig) -> None:
    have = [(row, f) for row in rows if (f := _frames(row, config))]
    if not have:
        return
    captioner = cap.load_captioner(
        config.captioner, config.device, config.max_new_tokens, config.prompt
    )
    images = [im for _, frames in have for im in frames]
    try:
        texts = captioner(images, config.batch_size)
    except Exception as err:  # a model failure must not lose the rows: reason, next source
        for row, _ in have:
            row.errors.append(f"model: {type(err).__name__}: {err}")
        return
    i = 0
    for row, frames in have:
        _take(row, cap.consensus(texts[i : i + len(frames)]), "model")
        i += len(frames)


def _clip(rows: list[_Row], config: CaptionConfig) -> None:
    have = [(row, f) for row in rows if (f := _frames(row, config))]
    if not have:
        return
    tagger = cap.load_tagger(config.clip_weights, config.clip_model, config.device)
    try:
        emb = tagger.embed([im for _, frames in have for im in frames], config.batch_size)
    except Exception as err:  # as in _model
        for row, _ in have:
            row.errors.append(f"clip: {type(err).__name__}: {err}")
        return
    i = 0
    for row, frames in have:
        _take(row, tagger.caption(emb[i : i + len(frames)].mean(0)), "clip")
        i += len(frames)


def caption_rows(
    records: list[dict],
    resolve,
    config: CaptionConfig,
    version: str,
    trimmer: Trimmer,
    table: dict | None = None,
) -> list[dict]:
    """Captions of a chunk of ok rows: result dicts with clip_id and the caption columns."""
    rows = [_Row(r, resolve(r["source"])) for r in records]
    for source in config.sources:
        todo = [row for row in rows if row.caption is None]
        if source == "model":
            _model(todo, config)
        elif source == "clip":
            _clip(todo, config)
        else:
            _simple(todo, source, config, table)
    results = []
    for row in rows:
        text, trimmed = trimmer(row.caption or "")
        results.append(
            {
                "clip_id": row.record["clip_id"],
                "caption": text,
                "caption_source": row.source if text else "none",
                "caption_version": version,
                "caption_error": "; ".join(row.errors) or None,
                "caption_trimmed": trimmed,
            }
        )
    return results


# ---------------------------------------------------------------- the command


def _path(exists: bool = True, file_okay: bool = True, dir_okay: bool = True):
    return click.Path(exists=exists, file_okay=file_okay, dir_okay=dir_okay)


@click.command("caption")
@click.argument("manifest", type=_path(dir_okay=False))
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output manifest (default: rewrite MANIFEST in place, atomically).")  # fmt: skip
@click.option("--source", "sources", default=None,
              help=f"Comma-separated sources in order of preference, from {','.join(SOURCES)} "
              "(default: all, less those whose option is not given).")  # fmt: skip
@click.option("--table", type=_path(dir_okay=False), default=None,
              help="CSV/TSV/Parquet with one caption per clip.")  # fmt: skip
@click.option("--table-key", type=click.Choice(["clip_id", "path"]), default="clip_id",
              show_default=True, help="Join on clip_id or on the video path.")  # fmt: skip
@click.option("--table-column", default="caption", show_default=True,
              help="Caption column of --table.")  # fmt: skip
@click.option("--captioner", type=_path(file_okay=False), default=None,
              help="Local transformers captioner folder (BLIP-style or image-text-to-text).")  # fmt: skip
@click.option("--frames-per-clip", type=int, default=3, show_default=True,
              help="Frames per clip for --captioner / --clip-weights.")  # fmt: skip
@click.option("--batch-size", type=int, default=8, show_default=True, help="Images per pass.")
@click.option("--device", default="cpu", show_default=True, help="torch device (cpu, cuda:0).")
@click.option("--max-new-tokens", type=int, default=40, show_default=True,
              help="Captioner generation length.")  # fmt: skip
@click.option("--prompt", default=cap.DEFAULT_PROMPT, show_default=True,
              help="Instruction for chat-template captioners.")  # fmt: skip
@click.option("--clip-weights", type=_path(), default=None,
              help="open_clip local dir (open_clip_config.json) or checkpoint file.")  # fmt: skip
@click.option("--clip-model", default=None,
              help="open_clip architecture of a --clip-weights file (e.g. ViT-B-32).")  # fmt: skip
@click.option("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, show_default=True,
              help="Text encoder context length (start/end tokens included); longer captions "
              "are cut at a word boundary.")  # fmt: skip
@click.option("--limit", type=int, default=None, help="Process at most N rows.")
@click.option("--dry-run", is_flag=True, help="Say what would be done; write nothing.")
def caption_cmd(manifest, out, sources, table, table_key, table_column, captioner,
                frames_per_clip, batch_size, device, max_new_tokens, prompt, clip_weights,
                clip_model, max_tokens, limit, dry_run) -> None:  # fmt: skip
    """Caption every pending clip from sidecar files, a table, a captioner, open_clip or scores."""
    from omni.curation.cli import _read, _summary, console

    out = out or manifest
    config = CaptionConfig(
        table=_absolute(table),
        table_key=table_key,
        table_column=table_column,
        captioner=_absolute(captioner),
        frames_per_clip=frames_per_clip,
        batch_size=batch_size,
        device=device,
        max_new_tokens=max_new_tokens,
        prompt=prompt,
        clip_weights=_absolute(clip_weights),
        clip_model=clip_model,
        max_tokens=max_tokens,
    )
    try:
        if frames_per_clip < 1 or batch_size < 1:
            raise ValueError(
                f"--frames-per-clip and --batch-size must be >= 1, got {frames_per_clip}, "
                f"{batch_size}"
            )
        config.sources = resolve_sources(sources, config)
        trimmer = Trimmer(max_tokens)
        lookup = table_lookup(config) if "table" in config.sources else None
        version = config.version()
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    m = _read(manifest)
    result = run_caption(m, out, config, version, trimmer, lookup, limit, dry_run, console)
    if result is None:
        return
    df, stats = result
    _summary(df, f"caption → {out}", stats)
    if stats["captions trimmed"]:
        console.print(
            f"[yellow]warning: {stats['captions trimmed']} captions were longer than "
            f"{max_tokens} tokens and were cut at a word boundary[/yellow]"
        )


def table_lookup(config: CaptionConfig) -> dict[str, str]:
    """{clip_id or normalised path: caption} of --table (its key column is named as --table-key)."""
    lookup = cap.read_caption_table(config.table, config.table_key, config.table_column)
    if config.table_key == "path":
        lookup = {k if Path(k).is_absolute() else cap.path_key(k): v for k, v in lookup.items()}
    return lookup


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path is not None else None


def _load(config: CaptionConfig) -> None:
    """Load the models once up front, so a wrong folder is a usage error, not a reason per row."""
    if "model" in config.sources:
        cap.load_captioner(config.captioner, config.device, config.max_new_tokens, config.prompt)
    if "clip" in config.sources:
        cap.load_tagger(config.clip_weights, config.clip_model, config.device)


def run_caption(m, out, config, version, trimmer, lookup, limit, dry_run, console):
    """Caption the pending rows of manifest `m` into `out`; (rows, summary counts) or None."""
    from rich.progress import Progress

    from omni.curation.runner import clear_parts, load_parts, write_part
    from omni.curation.score import merge_results
    from omni.manifest import write_manifest

    done = load_parts(out)
    mask = pending_mask(m.df, version)
    if not done.empty:
        mask &= ~m.df["clip_id"].isin(done["clip_id"]).to_numpy()
    todo = m.df[mask].to_dict("records")[:limit]
    if dry_run:
        console.print(
            f"would caption {len(todo)} rows with {config.sources} ({len(done)} already in "
            f"parts, {int((~pending_mask(m.df, version)).sum())} up to date or not ok) into {out}"
        )
        return None
    try:
        _load(config)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    chunk = max(8, config.batch_size // config.frames_per_clip)
    with Progress(console=console) as progress:
        bar = progress.add_task("captioning", total=len(todo))
        for i in range(0, len(todo), chunk):
            part = todo[i : i + chunk]
            write_part(out, caption_rows(part, m.resolve, config, version, trimmer, lookup))
            progress.advance(bar, len(part))
    results = load_parts(out)
    trimmed = int(results["caption_trimmed"].sum()) if not results.empty else 0
    if not results.empty:
        results = results.drop(columns=["caption_trimmed"])
    df = merge_results(m.df, results, m.root)
    not_ok = (df["status"] != "ok").to_numpy()
    df = _note_not_ok(df, not_ok)
    write_manifest(df, out, root=m.root)
    clear_parts(out)
    sources = df.loc[~not_ok, "caption_source"].fillna("none").value_counts()
    stats = {f"caption_source={s}": int(n) for s, n in sources.items()}
    stats["captioned now"] = len(todo)
    stats["captions trimmed"] = trimmed
    stats["empty captions"] = int((df.loc[~not_ok, "caption"].fillna("") == "").sum())
    stats["source errors"] = int(df.loc[~not_ok, "caption_error"].notna().sum())
    return df, stats


def _note_not_ok(df: pd.DataFrame, not_ok: np.ndarray) -> pd.DataFrame:
    """Rows that are not ok keep their caption and get the reason they were not captioned."""
    df = df.copy()
    for column in ("caption_source", "caption_version", "caption_error"):
        if column not in df:
            df[column] = pd.Series([None] * len(df), index=df.index, dtype=object)
    reasons = [f"not captioned: status={s}" for s in df.loc[not_ok, "status"]]
    df.loc[not_ok, "caption_error"] = pd.Series(reasons, index=df.index[not_ok], dtype=object)
    return df
