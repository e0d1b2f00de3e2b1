"""Model conversion commands: `omni import-t2v` (diffusers T2V MMDiT -> omni) and `omni export`
(Lightning checkpoint -> omni model directory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import torch
from safetensors import safe_open
from torch import Tensor

from omni.model.hunyuan import ImportReport, config_from_hunyuan, convert_state_dict
from omni.model.omni_model import (
    AudioSpec,
    GenerationDefaults,
    OmniModel,
    OmniModelConfig,
    TextSpec,
    VAESpec,
)
from omni.model.presets import get_preset

HUNYUAN_CLASS = "HunyuanVideoTransformer3DModel"


# --- import -------------------------------------------------------------------------------------


def find_transformer(source: Path) -> Path:
    """The transformer folder: `source` itself or `source/transformer` (a pipeline root)."""
    for candidate in (source, source / "transformer"):
        cfg = candidate / "config.json"
        if cfg.is_file():
            name = json.loads(cfg.read_text()).get("_class_name")
            if name == HUNYUAN_CLASS:
                return candidate
            if candidate == source and name is not None and (source / "transformer").is_dir():
                continue
            raise ValueError(
                f"{cfg}: expected a diffusers {HUNYUAN_CLASS} config, got _class_name={name!r}"
            )
    raise ValueError(
        f"{str(source)!r} holds no diffusers transformer: expected config.json of a {HUNYUAN_CLASS} "
        "there or in its 'transformer' subfolder (a HunyuanVideo pipeline directory)"
    )


def read_safetensors_dir(folder: Path) -> dict[str, Tensor]:
    """Every tensor of every *.safetensors file in `folder` (single or sharded checkpoints)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{folder}: no *.safetensors weights found next to config.json")
    tensors: dict[str, Tensor] = {}
    for file in files:
        with safe_open(file, framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                if key in tensors:
                    raise ValueError(f"{file}: tensor {key!r} appears in two shards")
                tensors[key] = f.get_tensor(key)
    return tensors


def import_hunyuan(
    source: str | Path,
    out: str | Path,
    vae: str | Path | None = None,
    audio: AudioSpec | None = None,
    pose_channels: int = 17,
    with_audio: bool = True,
) -> tuple[OmniModel, ImportReport]:
    """HunyuanVideo transformer (+ its VAE) -> an omni model directory at `out`.

    The MMDiT carries the source weights exactly; omni's condition paths (audio cross-attention,
    pose guider) are attached zero-initialised, the learned null text embeddings start at 0.
    Text features come from HunyuanVideo's own encoders (text kind 'none': the caller passes
    4096-d token features and the 768-d CLIP pooled vector).
    """
    transformer = find_transformer(Path(source))
    vae_dir = Path(vae) if vae is not None else transformer.parent / "vae"
    if not (vae_dir / "config.json").is_file():
        raise ValueError(
            f"no VAE at {str(vae_dir)!r}: pass --vae DIR (a diffusers VAE folder) or point --from "
            "at a pipeline directory with a 'vae' subfolder"
        )
    src_cfg = json.loads((transformer / "config.json").read_text())
    audio = audio or AudioSpec()
    mmdit = config_from_hunyuan(
        src_cfg, audio_dim=get_preset("hunyuan").audio_dim if with_audio else 0,
        pose_channels=pose_channels, pose_hidden=get_preset("hunyuan").pose_hidden,
    )  # fmt: skip
    config = OmniModelConfig(
        mmdit=mmdit,
        vae=VAESpec(kind="diffusers", path=str(vae_dir.resolve())),
        text=TextSpec(kind="none"),
        audio=audio,
    )
    model = OmniModel(config)
    if model.vae.latent_channels != mmdit.in_channels:
        raise ValueError(
            f"VAE {vae_dir} has {model.vae.latent_channels} latent channels, the transformer "
            f"expects {mmdit.in_channels}"
        )
    target = model.mmdit.state_dict()
    weights, report = convert_state_dict(
        read_safetensors_dir(transformer), target, model.mmdit.config
    )
    model.mmdit.load_state_dict(
        {**target, **{k: v.to(target[k].dtype) for k, v in weights.items()}}
    )
    out = Path(out)
    model.save_pretrained(out)
    (out / "import_report.json").write_text(
        json.dumps({"source": str(transformer.resolve()), **report.to_dict()}, indent=2)
    )
    return model, report


@click.command("import-t2v")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="diffusers HunyuanVideo pipeline dir, or its 'transformer' folder.",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="omni model directory to write."
)
@click.option(
    "--vae",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="diffusers VAE folder (default: the pipeline's 'vae' folder).",
)
@click.option(
    "--wav2vec2",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="local wav2vec2 folder for audio features (default: log-mel).",
)
@click.option(
    "--pose-channels",
    type=int,
    default=17,
    show_default=True,
    help="keypoint heatmap channels of the pose guider (0 = no pose path).",
)
def import_t2v(
    source: str, out: str, vae: str | None, wav2vec2: str | None, pose_channels: int
) -> None:
    """Import a diffusers text-to-video MMDiT (HunyuanVideo) as an omni model.

    Writes OUT/config.json, OUT/model.safetensors and OUT/import_report.json (which source tensors
    built which omni tensors, and which omni tensors are new).
    """  # fmt: skip
    from rich.console import Console

    audio = (
        AudioSpec(kind="wav2vec2", path=str(Path(wav2vec2).resolve())) if wav2vec2 else AudioSpec()
    )
    try:
        model, report = import_hunyuan(source, out, vae, audio, pose_channels)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    info = report.to_dict()
    n = sum(p.numel() for p in model.mmdit.parameters())
    Console(stderr=True).print(
        f"imported {info['source_tensors_used']} source tensors into {len(info['loaded'])} omni tensors; "
        f"{len(info['new'])} new tensors (condition paths, null embeddings); MMDiT {n / 1e9:.2f}B "
        f"parameters -> {out}"
    )


# --- export -------------------------------------------------------------------------------------


_TRUSTED_PREFIXES = ("omni.", "lightning.fabric.utilities.data.AttributeDict", "pathlib.")


def _load_checkpoint(path: Path) -> dict[str, Any]:
    """torch.load with weights_only=True, allowing omni's own config dataclasses (which Lightning
    stores in hyper_parameters) and nothing else that is not a tensor or plain container."""
    import importlib

    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    allowed = []
    for name in torch.serialization.get_unsafe_globals_in_checkpoint(path):
        if name.startswith(_TRUSTED_PREFIXES):
            module, _, attr = name.rpartition(".")
            allowed.append(getattr(importlib.import_module(module), attr))
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise ValueError(
            f"{path}: could not load it with weights_only=True ({type(err).__name__}: {err}); "
            "expected a Lightning checkpoint written by `omni fit`"
        ) from err


def _field(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _config_from_hparams(hp: dict[str, Any]) -> OmniModelConfig:
    """Rebuild the config from `omni fit` hyper-parameters (preset + network settings)."""
    net = hp.get("network") or {}
    mmdit = get_preset(hp["preset"]).replace(**(_field(net, "mmdit") or {}))
    vae_kind, vae_path = _field(net, "vae", "patch"), _field(net, "vae_path")
    if vae_kind == "patch":
        vae = VAESpec(kind="patch", patch=_field(net, "vae_patch", 2))
    elif vae_kind == "diffusers":
        vae = VAESpec(kind="diffusers", path=vae_path)
    else:  # the causal VAE of a `--stage vae` checkpoint: its config is stored there
        vae_ckpt = _load_checkpoint(Path(vae_path))
        vae = VAESpec(kind="causal", causal=dict(vae_ckpt["vae_config"]))
    text_kind = _field(net, "text", "small")
    if text_kind == "small":
        text = TextSpec(kind="small", width=mmdit.text_dim, layers=_field(net, "text_layers", 2))
    else:
        text = TextSpec(kind=text_kind, path=_field(net, "text_path"))
    layers = _field(net, "audio_layers")
    audio = AudioSpec(
        kind=_field(net, "audio", "mel"),
        path=_field(net, "audio_path"),
        layers=None if layers is None else list(layers),
    )
    return OmniModelConfig(mmdit=mmdit, vae=vae, text=text, audio=audio)


def audio_spec_from_data(data: dict[str, Any], audio: AudioSpec) -> AudioSpec:
    """The audio features the training data was computed with. Older `omni fit` checkpoints
    name a wav2vec2 folder in the datamodule's `audio_encoder` (+ `audio_layers`): that is what
    the MMDiT was trained on, whatever the model config says. Otherwise `audio` (the model's own
    spec, which the datamodule now takes its features from)."""
    if not data.get("audio_encoder"):
        return audio
    layers = data.get("audio_layers")
    return AudioSpec(
        kind="wav2vec2", path=data["audio_encoder"], layers=None if layers is None else list(layers)
    )


def generation_from_data(data: dict[str, Any]) -> GenerationDefaults | None:
    """Generation defaults from OmniDataModule hyper-parameters (fps, num_frames, resolution,
    audio_sr, pose_sigma; training buckets are square at `resolution`). None when the checkpoint
    has no datamodule hyper-parameters; a missing or null entry keeps GenerationDefaults' value
    (fps None, i.e. each clip's own rate, gives its 25)."""
    if not data:
        return None
    d = GenerationDefaults()
    side = int(data.get("resolution") or d.height)
    return GenerationDefaults(
        fps=float(data.get("fps") or d.fps),
        segment_frames=int(data.get("num_frames") or d.segment_frames),
        height=side,
        width=side,
        audio_sr=int(data.get("audio_sr") or d.audio_sr),
        pose_sigma=float(data.get("pose_sigma") or d.pose_sigma),
    )


def config_from_checkpoint(ckpt: dict[str, Any]) -> OmniModelConfig:
    """The model config a training checkpoint was made with: its 'omni_model_config' entry
    (OmniModelConfig.to_dict()), else rebuilt from its hyper-parameters (preset + network);
    the audio features and generation defaults follow the datamodule's hyper-parameters
    (`audio_spec_from_data`, `generation_from_data`) when the checkpoint has them."""
    if "omni_model_config" in ckpt:
        config = OmniModelConfig.from_dict(ckpt["omni_model_config"])
    else:
        hp = ckpt.get("hyper_parameters") or {}
        if "preset" not in hp:
            raise ValueError(
                "checkpoint has neither 'omni_model_config' nor hyper_parameters with a 'preset': "
                "expected a checkpoint written by `omni fit`"
            )
        config = _config_from_hparams(hp)
    data = ckpt.get("datamodule_hyper_parameters") or {}
    config.audio = audio_spec_from_data(data, config.audio)
    config.generation = generation_from_data(data) or config.generation
    return config


def export_checkpoint(ckpt_path: str | Path, out: str | Path, use_ema: bool = True) -> OmniModel:
    """Lightning checkpoint -> omni model directory (config.json + model.safetensors, EMA weights).

    Weights come from `state_dict` entries under `model.` with the EMA averages
    (`ema.shadow`) in place of the trained ones when present and `use_ema`.
    """
    ckpt = _load_checkpoint(Path(ckpt_path))
    if "state_dict" not in ckpt:
        raise ValueError(f"{ckpt_path}: expected a Lightning checkpoint with a 'state_dict'")
    model = OmniModel(config_from_checkpoint(ckpt))
    state = {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")
    }
    if use_ema:
        state.update(ckpt.get("ema", {}).get("shadow", {}))
    model.load_owned(model.owned_state_dict(state))
    model.save_pretrained(out)
    return model


@click.command("export")
@click.option(
    "--ckpt",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Lightning checkpoint.",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="omni model directory to write."
)
@click.option("--no-ema", is_flag=True, help="export the trained weights instead of their EMA.")
def export(ckpt: str, out: str, no_ema: bool) -> None:
    """Turn a Lightning checkpoint into config.json + model.safetensors (EMA weights)."""
    try:
        export_checkpoint(ckpt, out, use_ema=not no_ema)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    click.echo(f"exported {ckpt} -> {out}", err=True)
