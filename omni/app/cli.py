"""`omni app`: start the local web app (generation, curation manifests, evaluation results)."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path

import click
from rich.console import Console

console = Console(stderr=True)


@click.command("app")
@click.option(
    "--model",
    "model_dir",
    type=click.Path(path_type=Path),
    help="OmniModel directory (config.json + model.safetensors; save_pretrained / omni export).",
)
@click.option("--ckpt", type=click.Path(path_type=Path), help="Lightning checkpoint of `omni fit`.")
@click.option(
    "--no-model", is_flag=True, help="Browse curation and evaluation results only (no generation)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=7860,
    show_default=True,
    help="0 = any free port.",
)
@click.option("--manifest", type=click.Path(path_type=Path), help="Manifest to open in Curation.")
@click.option(
    "--results",
    type=click.Path(path_type=Path),
    help="`omni test --out` dir to open in Evaluation.",
)
@click.option(
    "--examples",
    type=click.Path(path_type=Path),
    help="Folder of pictures and audio files offered as examples to pick.",
)
@click.option(
    "--outputs",
    type=click.Path(path_type=Path),
    default=Path("omni-app-outputs"),
    show_default=True,
    help="Where generated videos are written.",
)
@click.option(
    "--steps",
    type=click.IntRange(1, 100),
    default=30,
    show_default=True,
    help="Starting value of the steps slider.",
)
@click.option("--device", help="torch device; default cuda when available, else cpu.")
def app(
    model_dir: Path | None,
    ckpt: Path | None,
    no_model: bool,
    host: str,
    port: int,
    manifest: Path | None,
    results: Path | None,
    examples: Path | None,
    outputs: Path,
    steps: int,
    device: str | None,
) -> None:
    """Start the web app on http://HOST:PORT (local only by default; no share links).

    Generate from a reference picture + audio / pose / prompt with --model DIR or --ckpt CKPT;
    browse a curation manifest and an `omni test` result in their tabs.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if sum(x is not None for x in (model_dir, ckpt)) + no_model != 1:
        raise click.UsageError(
            "give exactly one of --model DIR (an OmniModel directory), --ckpt CKPT (an `omni fit` "
            "checkpoint) or --no-model (browse results only)"
        )
    _check_inputs(manifest, results, examples)
    _warn_if_exposed(host)
    pipe = _load(model_dir, ckpt, device)

    from omni.app.ui import AppConfig, build_app, serve

    outputs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="omni-app-") as workdir:
        config = AppConfig(
            outputs=outputs.resolve(),
            workdir=Path(workdir),
            pipe=pipe,
            manifest=str(manifest) if manifest else None,
            results=str(results) if results else None,
            examples=examples.resolve() if examples else None,
            steps=steps,
        )
        blocks = build_app(config)
        try:
            url = serve(blocks, config, host, port, block=False)
        except OSError as err:
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({err}); try --port 0"
            ) from err
        console.print(f"omni app running at [bold]{url}[/bold] (Ctrl+C to stop)")
        try:
            blocks.block_thread()
        finally:
            blocks.close()


def _check_inputs(manifest: Path | None, results: Path | None, examples: Path | None) -> None:
    if manifest is not None and not manifest.is_file():
        raise click.BadParameter(f"expected a manifest .parquet file, got {manifest} (no such file)",
                                 param_hint="--manifest")  # fmt: skip
    if results is not None and not (results / "metrics.json").is_file():
        raise click.BadParameter(
            f"expected an `omni test --out` directory holding metrics.json, got {results}",
            param_hint="--results",
        )
    if examples is not None and not examples.is_dir():
        raise click.BadParameter(f"expected a folder, got {examples}", param_hint="--examples")


def _warn_if_exposed(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        console.print(
            f"[yellow]warning:[/yellow] binding to {host} exposes the app (no login) to the "
            "network; use the default 127.0.0.1 unless that is what you want"
        )


def _load(model_dir: Path | None, ckpt: Path | None, device: str | None):
    if model_dir is None and ckpt is None:
        return None
    from omni.generate.pipeline import OmniPipeline

    option, path = ("--model", model_dir) if model_dir is not None else ("--ckpt", ckpt)
    if not path.exists():
        raise click.BadParameter(f"{path}: no such file or directory", param_hint=option)
    with console.status("loading the model"):
        try:
            if model_dir is not None:
                return OmniPipeline.from_pretrained(model_dir, device=device)
            return OmniPipeline.from_checkpoint(ckpt, device=device)
        except (ValueError, OSError, RuntimeError, KeyError) as err:
            raise click.BadParameter(f"cannot load {path}: {err}", param_hint=option) from err
