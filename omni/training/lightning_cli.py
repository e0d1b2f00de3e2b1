"""`omni fit | validate | predict`: click commands that run LightningCLI on the packaged configs.

A run's config is, in order (later wins): `configs/base.yaml` (trainer, loggers, checkpoints),
`configs/stages/<stage>.yaml` (module, condition ratios, what trains), `configs/presets/<preset>.yaml`
(model size, resolution, batch), then every other option given on the command line, passed to
LightningCLI untouched (`--trainer.max_steps 10`, `--data.manifests [a.parquet]`, `--config my.yaml`).
Unknown keys are errors (jsonargparse), so a misspelt option never passes silently.

`run_test` is the entry point of `omni test --ckpt`: the same configs, Lightning's test loop, and
a `TestHook` that the evaluation code supplies (see docs/training.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import click
import yaml

STAGES = ("vae", "t2v", "text_ref", "audio", "pose")


def config_dir() -> Path:
    """The packaged configs folder (works for an installed omni too)."""
    return Path(str(resources.files("omni") / "configs"))


def _available(kind: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / kind).glob("*.yaml"))


def stage_config(name: str) -> Path:
    """configs/stages/<name>.yaml; ValueError listing the stages if there is none."""
    path = config_dir() / "stages" / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"unknown stage {name!r}; expected one of {_available('stages')}")
    return path


def preset_config(name: str) -> Path:
    """configs/presets/<name>.yaml; ValueError listing the presets if there is none."""
    path = config_dir() / "presets" / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"unknown preset {name!r}; expected one of {_available('presets')}")
    return path


def config_args(stage: str, preset: str, init_from: str | None = None) -> list[str]:
    """The `--config` arguments (base, stage, preset) and `--init-from` as LightningCLI options."""
    preset_path = preset_config(preset)
    if stage == "vae":  # the VAE takes the preset's data sizes and name, not the MMDiT's network
        data = yaml.safe_load(preset_path.read_text())
        data["model"] = {"preset": data.get("model", {}).get("preset", preset)}
        preset_arg = json.dumps(data)
    else:
        preset_arg = str(preset_path)
    args = [
        "--config", str(config_dir() / "base.yaml"),
        "--config", str(stage_config(stage)),
        "--config", preset_arg,
    ]  # fmt: skip
    if init_from is not None:
        if not Path(init_from).exists():
            raise ValueError(
                f"--init-from {init_from!r} does not exist; expected the previous stage's "
                "checkpoint (e.g. runs/text_ref/version_0/checkpoints/last.ckpt)"
            )
        args += ["--model.init_from", str(init_from)]
    return args


def build_cli(
    subcommand: str | None,
    stage: str,
    preset: str = "tiny",
    args: Sequence[str] = (),
    init_from: str | None = None,
    run: bool = True,
):
    """Run (or, with run=False, only instantiate) LightningCLI for a stage and preset."""
    from omni.training.cli_core import OmniCLI

    cli_args = config_args(stage, preset, init_from) + list(args)
    if subcommand is not None and run:  # without running, LightningCLI takes no subcommand
        cli_args = [subcommand, *cli_args]
    return OmniCLI(stage_module(stage), args=cli_args, run=run)


def stage_module(stage: str) -> type:
    """The LightningModule class a stage trains."""
    if stage == "vae":
        from omni.training.vae_module import VAEModule

        return VAEModule
    from omni.training.module import OmniModule

    return OmniModule


def run_test(
    ckpt: str,
    data: Sequence[str],
    stage: str = "audio",
    preset: str = "tiny",
    args: Sequence[str] = (),
    hook: Any = None,
) -> list[dict]:
    """Lightning's test loop on `data` manifests with the model of `ckpt` (its EMA weights).

    `hook` (a `omni.training.hooks.TestHook`) receives every test batch with the module, so the
    evaluation code generates and feeds its metrics there; returns `trainer.test`'s results.
    """
    if not Path(ckpt).exists():
        raise ValueError(f"checkpoint {ckpt!r} does not exist; expected a Lightning .ckpt file")
    if not data:
        raise ValueError("run_test needs at least one test manifest, got none")
    manifests = "[" + ",".join(str(d) for d in data) + "]"
    cli = build_cli(None, stage, preset, [*args, "--data.test_manifests", manifests], run=False)
    cli.model.test_hook = hook
    return cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt)


def _command(subcommand: str, doc: str) -> click.Command:
    @click.command(
        subcommand,
        help=doc,
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
    )
    @click.option("--stage", type=click.Choice(STAGES), help="Training stage (configs/stages).")
    @click.option(
        "--preset", default="tiny", show_default=True, help="Size preset (configs/presets)."
    )
    @click.option("--init-from", type=click.Path(), help="Checkpoint of the previous stage.")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def command(ctx: click.Context, stage, preset, init_from, args) -> None:
        if stage is None:
            if "--help" in args or "-h" in args:
                click.echo(ctx.get_help())
                click.echo("\nAdd --stage NAME to list every option of that stage.")
                ctx.exit(0)
            raise click.UsageError(f"--stage is required; expected one of {', '.join(STAGES)}")
        try:
            build_cli(subcommand, stage, preset, args, init_from)
        except ValueError as err:
            raise click.UsageError(str(err)) from err

    return command


_PASS = (
    "\n\nEvery other option goes to LightningCLI (see `--stage NAME --help`), e.g. "
    "--trainer.max_steps 100 --data.manifests '[train.parquet]' --trainer.strategy ddp."
)
fit = _command("fit", "Train a stage (vae, t2v, text_ref, audio, pose) with LightningCLI." + _PASS)
validate = _command("validate", "Run the validation loop of a stage on a checkpoint." + _PASS)
predict = _command("predict", "Run Lightning's predict loop over a manifest." + _PASS)
