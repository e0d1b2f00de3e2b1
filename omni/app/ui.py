"""The Gradio app: the Generate tab here, the browsing tabs in `omni.app.browse`.

`build_app` only builds the Blocks; `serve` launches it on loopback with nothing phoning home
(no analytics, no share link, no server-side rendering, no MCP server).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from omni.app.browse import curation_tab, evaluation_tab
from omni.app.generation import Request, generate, provenance_markdown
from omni.generate.pipeline import OmniPipeline

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".flac", ".ogg", ".aac")
SCHEDULES = ("cosine", "linear", "constant")


@dataclass
class AppConfig:
    """What the app serves (the `omni app` options)."""

    outputs: Path
    """Where generated videos are written (kept after the app stops)."""
    workdir: Path
    """Scratch space for clips cut for playback, copied result videos and reports."""
    pipe: OmniPipeline | None = None
    """The model; None = browse-only (the Generate tab says how to give one)."""
    manifest: str | None = None
    """Manifest opened in the Curation tab at start."""
    results: str | None = None
    """`omni test` result directory opened in the Evaluation tab at start."""
    examples: Path | None = None
    """Folder of reference pictures and audio files offered as examples."""
    steps: int = 30
    """Default sampler steps shown on the slider."""
    extra_paths: list[str] = field(default_factory=list)

    @property
    def allowed_paths(self) -> list[str]:
        """Folders the server may send files from."""
        paths = [self.outputs, self.workdir, *self.extra_paths]
        if self.examples is not None:
            paths.append(self.examples)
        return [str(Path(p).resolve()) for p in paths]


def build_app(config: AppConfig) -> gr.Blocks:
    """The three-tab Blocks app."""
    with gr.Blocks(title="omni", analytics_enabled=False) as app:
        gr.Markdown("# omni\nAnimate a person from a reference picture, audio, pose and text.")
        with gr.Tab("Generate", id="generate"):
            _generate_tab(config)
        with gr.Tab("Curation", id="curation"):
            curation_tab(app, config.manifest, config.workdir)
        with gr.Tab("Evaluation", id="evaluation"):
            evaluation_tab(app, config.results, config.workdir)
    return app


def serve(app: gr.Blocks, config: AppConfig, host: str, port: int, block: bool = True) -> str:
    """Launch on host:port (port 0 = any free one); returns the local URL."""
    app.queue(default_concurrency_limit=1)  # one generation at a time: they share the model
    _, url, _ = app.launch(
        server_name=host,
        server_port=port or _free_port(host),
        share=False,
        inbrowser=False,
        ssr_mode=False,
        mcp_server=False,
        show_error=True,
        quiet=True,
        allowed_paths=config.allowed_paths,
        footer_links=[],
        prevent_thread_lock=not block,
    )
    return url


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --- the Generate tab -------------------------------------------------------------------------


def _generate_tab(config: AppConfig) -> None:
    pipe = config.pipe
    gr.Markdown(_model_line(pipe), elem_id="omni-model")
    with gr.Row():
        with gr.Column():
            ref = gr.Image(
                label="Reference picture",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="omni-ref",
            )
            audio = gr.Audio(
                label="Driving audio (file or microphone)",
                sources=["upload", "microphone"],
                type="filepath",
                elem_id="omni-audio",
            )
            _examples(config.examples, ref, audio)
            pose = gr.File(
                label="Driving pose (optional): a video or a keypoints .npz",
                file_types=["video", ".npz"],
                elem_id="omni-pose",
            )
            text = gr.Textbox(label="Prompt", placeholder="a woman talks to the camera")
            button = gr.Button(
                "Generate", variant="primary", interactive=pipe is not None, elem_id="omni-generate"
            )
            with gr.Accordion("Sampling", open=True):
                steps = gr.Slider(1, 100, config.steps, step=1, label="Steps", elem_id="omni-steps")
                seconds = gr.Number(0, label="Seconds (0 = the audio's length)", minimum=0)
                with gr.Row():
                    cfg_text = gr.Slider(1, 10, 2.0, step=0.1, label="Text guidance (start)")
                    cfg_text_end = gr.Slider(1, 10, 1.0, step=0.1, label="Text guidance (end)")
                with gr.Row():
                    cfg_audio = gr.Slider(1, 10, 3.0, step=0.1, label="Audio guidance (start)")
                    cfg_audio_end = gr.Slider(1, 10, 1.0, step=0.1, label="Audio guidance (end)")
                schedule = gr.Radio(list(SCHEDULES), value="cosine", label="Annealing schedule")
                solver = gr.Radio(["euler", "heun"], value="euler", label="Solver")
                seed = gr.Number(0, label="Seed", precision=0, minimum=0)
        with gr.Column():
            video = gr.Video(
                label="Generated video",
                buttons=["download"],
                interactive=False,
                elem_id="omni-video",
            )
            provenance = gr.Markdown(elem_id="omni-provenance")
            details = gr.JSON(label="How it was made")

    def run(*values, progress=gr.Progress()):  # noqa: B008 (how Gradio injects the bar)
        names = (
            "ref", "audio", "pose", "text", "steps", "seconds", "cfg_text", "cfg_text_end",
            "cfg_audio", "cfg_audio_end", "schedule", "seed", "solver",
        )  # fmt: skip
        args = dict(zip(names, values, strict=True))
        args["steps"], args["seed"] = int(args["steps"]), int(args["seed"] or 0)
        args["seconds"] = float(args["seconds"]) if args["seconds"] else None
        args["pose"] = _file_path(args["pose"])
        args["text"] = args["text"] or ""
        return _run_generation(pipe, Request(**args), config.outputs, progress)

    button.click(
        run,
        inputs=[ref, audio, pose, text, steps, seconds, cfg_text, cfg_text_end, cfg_audio,
                cfg_audio_end, schedule, seed, solver],
        outputs=[video, provenance, details],
        api_name="generate",
    )  # fmt: skip


def _run_generation(pipe: OmniPipeline | None, request: Request, outputs: Path, progress):
    if pipe is None:
        raise gr.Error("no model loaded: restart with `omni app --model DIR` or `--ckpt CKPT`")
    try:
        done = generate(pipe, request, outputs, lambda f, d: progress(f, desc=d))
    except (ValueError, OSError) as err:
        raise gr.Error(str(err)) from err
    warnings = "".join(f"\n- warning: {w}" for w in done.result.warnings)
    status = f"**Wrote** `{done.video}`\n\n{provenance_markdown(done.provenance)}{warnings}"
    return str(done.video), status, done.details


def _model_line(pipe: OmniPipeline | None) -> str:
    if pipe is None:
        return (
            "**No model loaded** (browse-only). Start `omni app --model DIR` (an OmniModel "
            "directory) or `omni app --ckpt CKPT` to generate."
        )
    d = pipe.defaults
    return (
        f"Model `{pipe.source}` on {pipe.device}: {d.width}x{d.height} at {d.fps:g} fps, "
        f"{d.segment_frames}-frame segments."
    )


def _examples(folder: Path | None, ref: gr.Image, audio: gr.Audio) -> None:
    if folder is None:
        return
    files = sorted(p for p in folder.iterdir() if p.is_file())
    images = [[str(p)] for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    sounds = [[str(p)] for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
    if images:
        gr.Examples(images, inputs=[ref], label="Pick a reference", examples_per_page=8)
    if sounds:
        gr.Examples(sounds, inputs=[audio], label="Pick an audio", examples_per_page=8)


def _file_path(value: str | Sequence | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return getattr(value, "name", None) or str(value)
