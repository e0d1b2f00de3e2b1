"""Text encoders: strings -> token features (B, L, D) + mask (+ pooled vector).

- `SmallTextEncoder` (default, trainable, no download): a small transformer on open_clip's BPE
  tokenizer, whose vocabulary ships inside the open_clip package.
- `OpenCLIPText` (frozen): an open_clip text tower from a local checkpoint (open_clip's
  `local-dir` layout, or a named architecture plus a checkpoint file).
- `T5Text` (frozen): a `transformers` T5 encoder + tokenizer from a local directory.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch import Tensor, nn


@dataclass
class TextOutput:
    tokens: Tensor
    """(B, L, dim) token features."""
    mask: Tensor
    """(B, L) bool, True for real tokens."""
    pooled: Tensor | None = None
    """(B, pooled_dim) sentence vector, for encoders that have one."""


@cache
def _bpe_tokenizer_module():
    """open_clip's tokenizer module alone: importing the open_clip package pulls in transformers
    and timm (15-20 s here), which the default encoder does not need. The module has no relative
    imports and finds its bundled vocabulary next to itself."""
    if "open_clip" in sys.modules:
        from open_clip import tokenizer

        return tokenizer
    spec = importlib.util.find_spec("open_clip")
    path = Path(spec.origin).parent / "tokenizer.py"
    module_spec = importlib.util.spec_from_file_location("_omni_open_clip_tokenizer", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _trim(ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Drop padding columns beyond the longest row (keeps at least one column)."""
    length = max(int(mask.sum(1).max()), 1)
    return ids[:, :length], mask[:, :length]


class SmallTextEncoder(nn.Module):
    """Trainable default: token + learned position embeddings, a pre-norm transformer, LayerNorm."""

    pooled_dim = 0

    def __init__(self, width: int = 64, layers: int = 2, heads: int = 2, context_length: int = 77):
        super().__init__()
        self.tokenizer = _bpe_tokenizer_module().SimpleTokenizer(context_length=context_length)
        self.dim = width
        self.embed = nn.Embedding(self.tokenizer.vocab_size, width)
        self.pos = nn.Parameter(torch.randn(context_length, width) * 0.01)
        layer = nn.TransformerEncoderLayer(
            width,
            heads,
            4 * width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        nn.init.normal_(self.embed.weight, std=0.02)

    def tokenize(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        ids = self.tokenizer(list(texts)).to(self.embed.weight.device)  # (B, ctx), 0 = padding
        return _trim(ids, ids != 0)

    def forward(self, texts: list[str]) -> TextOutput:
        ids, mask = self.tokenize(texts)
        x = self.embed(ids) + self.pos[: ids.shape[1]]  # (B, L, D)
        x = self.blocks(x, src_key_padding_mask=~mask)
        return TextOutput(self.norm(x), mask)


class OpenCLIPText(nn.Module):
    """Frozen open_clip text tower: per-token features after ln_final + the projected pooled vector.

    `source` is a directory in open_clip's local layout (open_clip_config.json +
    open_clip_model.safetensors / open_clip_pytorch_model.bin), or a checkpoint file together with
    `model_name` (an open_clip architecture such as "ViT-L-14").
    """

    def __init__(self, source: str | Path, model_name: str | None = None) -> None:
        super().__init__()
        import open_clip

        source = Path(source)
        if source.is_dir():
            if not (source / "open_clip_config.json").is_file():
                raise ValueError(
                    f"open_clip directory {str(source)!r} has no open_clip_config.json "
                    "(expected open_clip's local-dir layout)"
                )
            name, pretrained = f"local-dir:{source}", None
        elif source.is_file():
            if model_name is None:
                raise ValueError(
                    f"an open_clip checkpoint file ({source.name}) needs model_name "
                    "(e.g. 'ViT-L-14'); got None"
                )
            name, pretrained = model_name, str(source)
        else:
            raise ValueError(f"open_clip text encoder: {str(source)!r} does not exist")
        model = open_clip.create_model(name, pretrained=pretrained, weights_only=True)
        self.tokenizer = open_clip.get_tokenizer(name)
        if not hasattr(model, "token_embedding"):
            raise ValueError(
                f"{name}: only CLIP-style text towers are supported, got {type(model).__name__}"
            )
        model.visual = None  # the image tower is never used
        self.model = model.eval().requires_grad_(False)
        self.dim = model.transformer.width
        proj = model.text_projection
        self.pooled_dim = proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1]

    @torch.no_grad()
    def forward(self, texts: list[str]) -> TextOutput:
        from open_clip.transformer import text_global_pool

        m = self.model
        ids = self.tokenizer(list(texts)).to(m.token_embedding.weight.device)  # (B, ctx)
        x = m.token_embedding(ids) + m.positional_embedding  # (B, ctx, W)
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask))
        pooled = text_global_pool(
            x, ids, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None)
        )
        proj = m.text_projection
        pooled = proj(pooled) if isinstance(proj, nn.Linear) else pooled @ proj
        mask = ids != 0
        length = max(int(mask.sum(1).max()), 1)
        return TextOutput(x[:, :length], mask[:, :length], pooled)


class T5Text(nn.Module):
    """Frozen `transformers` T5 encoder and its tokenizer from a local directory."""

    pooled_dim = 0

    def __init__(self, path: str | Path, max_length: int = 128) -> None:
        super().__init__()
        from transformers import AutoTokenizer, T5EncoderModel

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ValueError(
                f"T5 directory {str(path)!r} has no config.json: expected a transformers "
                "save_pretrained directory with the encoder and its tokenizer"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = (
            T5EncoderModel.from_pretrained(path, local_files_only=True).eval().requires_grad_(False)
        )
        self.dim = self.model.config.d_model
        self.max_length = max_length

    @torch.no_grad()
    def forward(self, texts: list[str]) -> TextOutput:
        enc = self.tokenizer(
            list(texts),
            padding="longest",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.model.device)
        out = self.model(
            input_ids=enc.input_ids, attention_mask=enc.attention_mask
        ).last_hidden_state
        return TextOutput(out, enc.attention_mask.bool())
