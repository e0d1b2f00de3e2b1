"""The Curation and Evaluation tabs: Gradio wiring around `curation_view` / `evaluation_view`."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import gradio as gr

from omni.app import curation_view as cv
from omni.app import evaluation_view as ev
from omni.manifest import Manifest

ALL = "all"


def _error(err: Exception) -> gr.Error:
    return gr.Error(str(err))


# --- Curation -----------------------------------------------------------------------------------


class _Manifests:
    """Opened manifests, re-read when the file changes."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, Manifest]] = {}

    def get(self, path: str) -> Manifest:
        key = str(Path(str(path).strip()).expanduser().resolve()) if path else ""
        mtime = Path(key).stat().st_mtime if key and Path(key).is_file() else -1.0
        cached = self._cache.get(key)
        if cached is None or cached[0] != mtime:
            self._cache[key] = (mtime, cv.open_manifest(path))
        return self._cache[key][1]


def curation_tab(app: gr.Blocks, initial: str | None, workdir: Path) -> None:
    manifests = _Manifests()
    with gr.Row():
        path = gr.Textbox(initial or "", label="Manifest (.parquet)", scale=4, elem_id="cur-path")
        open_button = gr.Button("Open", scale=1, elem_id="cur-open")
    info = gr.Markdown(elem_id="cur-summary")
    rates = gr.Dataframe(label="Pass rate per condition", interactive=False, elem_id="cur-rates")
    with gr.Row():
        status = gr.Dropdown([ALL, "ok", "error"], value=ALL, label="Status")
        eligible = gr.Dropdown(
            ["any", *cv.CONDITIONS, "rejected"], value="any", label="Eligible for"
        )
        column = gr.Dropdown([], label="Score (range, thumbnails)", elem_id="cur-column")
        low = gr.Textbox("", label="min", placeholder="no bound")
        high = gr.Textbox("", label="max", placeholder="no bound")
        search = gr.Textbox("", label="clip_id / source contains")
    apply = gr.Button("Apply filters", elem_id="cur-apply")
    gr.Markdown("Histograms of the shown rows; their best and worst clips by the chosen score:")
    plot = gr.Plot(show_label=False, elem_id="cur-hist")
    thumbs = gr.Gallery(
        label="Best and worst by score",
        columns=8,
        height=240,
        object_fit="contain",
        elem_id="cur-thumbs",
    )
    rows = gr.Dataframe(label="Rows", interactive=False, max_height=400, elem_id="cur-rows")
    with gr.Row():
        with gr.Column(scale=1):
            clip = gr.Dropdown([], label="Play a clip", elem_id="cur-clip")
            skeleton = gr.Checkbox(
                value=True, label="Draw pose keypoints (if scored)", elem_id="cur-keypoints"
            )
        player = gr.Video(label="Clip", interactive=False, height=320, elem_id="cur-player")
    with gr.Row():
        report_button = gr.Button("Write report.html for the shown rows")
        report = gr.File(label="Curation report", interactive=False)

    def view(path_value, status_v, eligible_v, column_v, low_v, high_v, search_v, opening):
        try:
            m = manifests.get(path_value)
            scores = cv.score_columns(m.df)
            column_v = column_v if column_v in scores else (scores[0] if scores else None)
            bounds = cv.parse_bound(low_v, "min"), cv.parse_bound(high_v, "max")
            f = cv.ClipFilter(status_v, eligible_v, column_v, *bounds, search_v or "")
            shown = cv.filter_rows(m.df, f)
        except ValueError as err:
            raise _error(err) from err
        gallery = cv.gallery(m, shown, column_v) if column_v else []
        ids = shown["clip_id"].astype(str).tolist()
        return (
            cv.summary(m.df, shown, m.root),
            cv.pass_rates(m.df if opening else shown),
            gr.Dropdown(choices=scores, value=column_v),
            cv.histograms(shown),
            gallery,
            cv.table(shown),
            gr.Dropdown(choices=ids, value=None),
        )

    inputs = [path, status, eligible, column, low, high, search]
    outputs = [info, rates, column, plot, thumbs, rows, clip]
    open_button.click(lambda *a: view(*a, True), inputs, outputs, api_name="open_manifest")
    path.submit(lambda *a: view(*a, True), inputs, outputs)
    apply.click(lambda *a: view(*a, False), inputs, outputs, api_name="filter_manifest")

    def play(path_value, clip_id, keypoints):
        if not clip_id:
            return None
        try:
            m = manifests.get(path_value)
            row = m.df[m.df["clip_id"].astype(str) == clip_id]
            if row.empty:
                raise ValueError(f"no clip {clip_id!r} in this manifest")
            return str(cv.clip_video(m, row.iloc[0], workdir, keypoints=bool(keypoints)))
        except ValueError as err:
            raise _error(err) from err

    clip.change(play, [path, clip, skeleton], player, api_name="play_clip")
    skeleton.change(play, [path, clip, skeleton], player)

    def write_report(*values):
        from omni.curation.report import write_report as write

        try:
            m = manifests.get(values[0])
            bounds = cv.parse_bound(values[4], "min"), cv.parse_bound(values[5], "max")
            f = cv.ClipFilter(*values[1:4], *bounds, values[6] or "")
            shown = cv.filter_rows(m.df, f)
        except ValueError as err:
            raise _error(err) from err
        digest = hashlib.sha1(repr(values).encode()).hexdigest()[:10]
        return str(write(Manifest(shown, m.root), workdir / "reports" / f"curation-{digest}.html"))

    report_button.click(write_report, inputs, report)
    if initial:
        app.load(lambda *a: view(*a, True), inputs, outputs)  # opened when the page loads


# --- Evaluation ---------------------------------------------------------------------------------


def evaluation_tab(app: gr.Blocks, initial: str | None, workdir: Path) -> None:
    with gr.Row():
        path = gr.Textbox(
            initial or "", label="`omni test --out` directory", scale=4, elem_id="ev-path"
        )
        open_button = gr.Button("Open", scale=1, elem_id="ev-open")
    info = gr.Markdown(elem_id="ev-summary")
    metrics = gr.Dataframe(label="Metrics", interactive=False, elem_id="ev-metrics")
    plot = gr.Plot(show_label=False, elem_id="ev-bars")
    videos = gr.Dataframe(label="Per video", interactive=False, elem_id="ev-videos")
    name = gr.Dropdown([], label="Side by side", elem_id="ev-name")
    with gr.Row():
        generated = gr.Video(
            label="Generated", interactive=False, height=320, elem_id="ev-generated"
        )
        real = gr.Video(label="Real", interactive=False, height=320, elem_id="ev-real")
    note = gr.Markdown()
    report = gr.File(label="report.html", interactive=False)

    def view(path_value):
        try:
            results = ev.open_results(path_value)
        except ValueError as err:
            raise _error(err) from err
        m = results.metrics
        line = (
            f"**{len(results.names)} videos**, written {m.get('created_utc', '?')}: generated "
            f"`{m.get('generated')}` vs real `{m.get('real')}`"
        )
        return (
            line,
            ev.metrics_table(results),
            ev.bars(results),
            ev.videos_table(results),
            gr.Dropdown(choices=results.names, value=results.names[0] if results.names else None),
            str(results.report) if results.report else None,
        )

    outputs = [info, metrics, plot, videos, name, report]
    open_button.click(view, path, outputs, api_name="open_results")
    path.submit(view, path, outputs)

    def pair(path_value, name_value):
        if not name_value:
            return None, None, ""
        try:
            results = ev.open_results(path_value)
            gen, ref, missing = ev.video_pair(results, name_value)
        except ValueError as err:
            raise _error(err) from err
        return _served(gen, workdir), _served(ref, workdir), missing

    name.change(pair, [path, name], [generated, real, note], api_name="video_pair")
    if initial:
        app.load(view, path, outputs)


def _served(path: Path | None, workdir: Path) -> str | None:
    """A copy of a result video inside the app's workdir (the server sends only from there)."""
    if path is None:
        return None
    stat = path.stat()
    key = hashlib.sha1(f"{path}|{stat.st_mtime_ns}|{stat.st_size}".encode()).hexdigest()[:16]
    out = workdir / "results" / f"{key}{path.suffix}"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.part")
        shutil.copyfile(path, tmp)
        tmp.replace(out)
    return str(out)
