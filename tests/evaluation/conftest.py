"""Random weights files in the exact on-disk layouts of the real metric networks.

Parameter names and shapes are written out here from the original projects' architectures
(torch-fidelity's InceptionV3, piergiaj/pytorch-i3d, joonson/syncnet_python), independently of
omni's modules, so a loader that drifted from the real layout fails to load them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

from omni.evaluation.inception import INCEPTION_FILE


def _random_like(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """He-scaled weights and plausible BatchNorm statistics: activations stay alive."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=gen)
        if len(shape) >= 2:
            state[name] = noise * (2 / int(np.prod(shape[1:]))) ** 0.5
        elif name.endswith("running_var"):
            state[name] = noise.abs() * 0.2 + 0.8
        elif name.endswith("bn.weight") or (name.endswith(".weight") and "bn" not in name):
            state[name] = 1 + 0.1 * noise
        else:
            state[name] = 0.1 * noise
    return state


@pytest.fixture(scope="session")
def inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torch-fidelity's InceptionV3 names/shapes (from the library, built without weights)."""
    folder = tmp_path_factory.mktemp("inception")
    empty = folder / "empty.pth"
    torch.save({}, empty)
    cls = tf_inception.FeatureExtractorInceptionV3
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cls, "load_state_dict", lambda self, *a, **k: None)
        net = cls("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    layout = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    state = _random_like(layout)
    for name, value in net.state_dict().items():
        if not value.is_floating_point():
            state[name] = value
    path = folder / INCEPTION_FILE
    torch.save(state, path)
    return path


# pytorch-i3d's InceptionI3d, written out from its published architecture: (name, in, out, kernel)
_STEM = [
    ("Conv3d_1a_7x7", 3, 64, 7),
    ("Conv3d_2b_1x1", 64, 64, 1),
    ("Conv3d_2c_3x3", 64, 192, 3),
]
_BLOCKS = [
    ("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
    ("Mixed_4b", 480, [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", 512, [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", 512, [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", 512, [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", 528, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5b", 832, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", 832, [384, 192, 384, 48, 128, 128]),
]


def _i3d_layout() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def unit(name: str, cin: int, cout: int, k: int) -> None:
        shapes[f"{name}.conv3d.weight"] = (cout, cin, k, k, k)
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{p}"] = (cout,)

    for name, cin, cout, k in _STEM:
        unit(name, cin, cout, k)
    for name, cin, (b0, b1a, b1b, b2a, b2b, b3b) in _BLOCKS:
        unit(f"{name}.b0", cin, b0, 1)
        unit(f"{name}.b1a", cin, b1a, 1)
        unit(f"{name}.b1b", b1a, b1b, 3)
        unit(f"{name}.b2a", cin, b2a, 1)
        unit(f"{name}.b2b", b2a, b2b, 3)
        unit(f"{name}.b3b", cin, b3b, 1)
    shapes["logits.conv3d.weight"] = (400, 1024, 1, 1, 1)
    shapes["logits.conv3d.bias"] = (400,)
    return shapes


@pytest.fixture(scope="session")
def i3d_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytorch-i3d's rgb_imagenet.pt layout (old checkpoints: no num_batches_tracked)."""
    path = tmp_path_factory.mktemp("i3d") / "rgb_imagenet.pt"
    torch.save(_random_like(_i3d_layout()), path)
    return path


def _syncnet_layout() -> dict[str, tuple[int, ...]]:
    """syncnet_python's S(num_layers_in_fc_layers=1024): Sequential index -> layer shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    aud = {0: (64, 1, 3, 3), 4: (192, 64, 3, 3), 8: (384, 192, 3, 3), 11: (256, 384, 3, 3)}
    aud |= {14: (256, 256, 3, 3), 18: (512, 256, 5, 4)}
    lip = {0: (96, 3, 5, 7, 7), 4: (256, 96, 1, 5, 5), 8: (256, 256, 1, 3, 3)}
    lip |= {11: (256, 256, 1, 3, 3), 14: (256, 256, 1, 3, 3), 18: (512, 256, 1, 6, 6)}
    for tower, convs in (("netcnnaud", aud), ("netcnnlip", lip)):
        for i, shape in convs.items():
            shapes[f"{tower}.{i}.weight"] = shape
            shapes[f"{tower}.{i}.bias"] = shape[:1]
            for p in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{tower}.{i + 1}.{p}"] = shape[:1]
    for head in ("netfcaud", "netfclip"):
        shapes[f"{head}.0.weight"], shapes[f"{head}.0.bias"] = (512, 512), (512,)
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{head}.1.{p}"] = (512,)
        shapes[f"{head}.3.weight"], shapes[f"{head}.3.bias"] = (1024, 512), (1024,)
    return shapes


@pytest.fixture(scope="session")
def syncnet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """syncnet_python's syncnet_v2.model layout."""
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(_random_like(_syncnet_layout()), path)
    return path
