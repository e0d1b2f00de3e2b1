"""Weights files of the metric networks: checked paths, safe loading, content hashes for the record."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch

_HASHES: dict[tuple[str, int, float], str] = {}


def require_file(path: str | os.PathLike, option: str, expected: str) -> Path:
    """The path as a Path, or a ValueError naming the option and the expected file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(
            f"{option}: expected {expected} at {path}, but there is no such file; "
            f"pass the path of a local copy to {option}"
        )
    return path


def load_state_dict(path: Path, option: str, expected: str) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} state dict loaded with `weights_only=True` (no code runs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a non-checkpoint file
        raise ValueError(
            f"{option}: {path} is not a PyTorch state dict that loads with weights_only=True "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); expected {expected}"
        ) from err
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ValueError(
            f"{option}: {path} holds a {type(state).__name__}, not a {{name: tensor}} state dict; "
            f"expected {expected}"
        )
    return dict(state)


def check_state_dict(
    got: Mapping[str, torch.Tensor],
    want: Mapping[str, torch.Tensor],
    path: Path,
    option: str,
    expected: str,
    optional: tuple[str, ...] = ("num_batches_tracked",),
) -> None:
    """Raise a ValueError listing missing / unexpected / mis-shaped parameters, if any."""
    required = {k for k in want if not k.endswith(optional)}
    missing = sorted(required - set(got))
    unexpected = sorted(k for k in set(got) - set(want) if not k.endswith(optional))
    shapes = [
        f"{k}: file {tuple(got[k].shape)} vs model {tuple(want[k].shape)}"
        for k in sorted(set(got) & set(want))
        if got[k].shape != want[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} with other shapes (e.g. {shapes[:2]})")
        raise ValueError(
            f"{option}: {path} does not have the parameters of {expected}: " + "; ".join(parts)
        )


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's content (cached per path, size and mtime)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]
