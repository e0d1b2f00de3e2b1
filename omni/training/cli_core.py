"""`OmniCLI`: LightningCLI with omni's defaults (precision by hardware, TensorBoard + CSV logs).

Kept apart from `lightning_cli.py` so `omni --help` and the click commands import no Lightning.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from omni.datamodules.datamodule import OmniDataModule


def auto_precision() -> str:
    """bf16-mixed where the GPU has fast bf16, else fp32 (this CPU has no fast bf16)."""
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def next_version(root: str | Path) -> str:
    """`version_N` with N one past the highest existing run folder under root."""
    root = Path(root)
    found = [
        int(m.group(1))
        for p in (root.iterdir() if root.is_dir() else [])
        if (m := re.fullmatch(r"version_(\d+)", p.name))
    ]
    return f"version_{max(found, default=-1) + 1}"


def default_loggers(root: str | Path) -> list[dict]:
    """TensorBoard logs in `root/version_N` (checkpoints beside them), CSV in its `csv/`."""
    version = next_version(root)
    return [
        {
            "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
            "init_args": {"save_dir": str(root), "name": "", "version": version},
        },
        {
            "class_path": "lightning.pytorch.loggers.CSVLogger",
            "init_args": {"save_dir": str(Path(root) / version), "name": "", "version": "csv"},
        },
    ]


class OmniCLI(LightningCLI):
    """The stage's LightningModule (options `--model.*`) and OmniDataModule (`--data.*`)."""

    def __init__(self, model_class: type, **kwargs) -> None:
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        # omni's click command passes the arguments itself and keeps sys.argv for DDP re-launches
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        super().__init__(
            model_class=model_class,
            datamodule_class=OmniDataModule,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        if trainer.precision is None:
            trainer.precision = auto_precision()
        if trainer.logger is None or trainer.logger is True:
            trainer.logger = default_loggers(trainer.default_root_dir or "runs")
        if trainer.strategy == "ddp":
            # a batch where no sample uses audio (or pose) leaves that path without gradients
            trainer.strategy = "ddp_find_unused_parameters_true"
