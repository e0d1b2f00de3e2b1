"""The `omni` command line: one click group, every subcommand imported only when it runs.

Lazy loading keeps `omni --help` fast (torch, mediapipe and friends take seconds to import) and
keeps each part's command in its own package (`omni.curation.cli`, `omni.generate.cli`, ...).
"""

from __future__ import annotations

import importlib

import click

# name -> (module:attribute, one-line help). The help is shown by `omni --help` without importing.
COMMANDS: dict[str, tuple[str, str]] = {
    "curate": (
        "omni.curation.cli:curate",
        "Turn raw footage into scored, filtered Parquet manifests.",
    ),
    "fit": (
        "omni.training.lightning_cli:fit",
        "Train a stage (vae, t2v, text_ref, audio, pose) with LightningCLI.",
    ),
    "validate": (
        "omni.training.lightning_cli:validate",
        "Run the validation loop of a stage on a checkpoint.",
    ),
    "test": (
        "omni.evaluation.cli:test",
        "Evaluate: FID, FVD, Sync-C/D, HKC/HKV on a checkpoint or on existing videos.",
    ),
    "predict": (
        "omni.training.lightning_cli:predict",
        "Run Lightning's predict loop (generation over a manifest).",
    ),
    "generate": (
        "omni.generate.cli:generate",
        "Animate a reference image from audio, pose and/or text into an mp4.",
    ),
    "demo": (
        "omni.demo.cli:demo",
        "Run the whole pipeline on built-in synthetic data, with measured effects.",
    ),
    "import-t2v": (
        "omni.model.convert:import_t2v",
        "Import a diffusers text-to-video MMDiT as an omni model.",
    ),
    "export": (
        "omni.model.convert:export",
        "Turn a Lightning checkpoint into config.json + model.safetensors.",
    ),
    "verify": (
        "omni.provenance.cli:verify",
        "Check videos for omni's watermark and provenance record.",
    ),
    "app": ("omni.app.cli:app", "Start the local web app for generation and browsing results."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is None or not module_name.startswith(err.name):
                raise
            return _unavailable(name, target)
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str, target: str) -> click.Command:
    @click.command(name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        raise click.ClickException(
            f"`omni {name}` is not part of this build yet ({target} is missing)."
        )

    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="omni")
def main() -> None:
    """omni: an open, trainable OmniHuman-1.

    Curate footage into manifests, train the conditioned MMDiT stage by stage, generate and
    evaluate human videos from a reference image plus text, audio and pose.
    """


if __name__ == "__main__":
    main()
