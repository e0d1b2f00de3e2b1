import json

import pytest
import torch

from omni.model.text import OpenCLIPText, SmallTextEncoder, T5Text

TINY_CLIP = {
    "embed_dim": 8,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 16, "head_width": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


def test_default_encoder_uses_bundled_bpe_and_masks_padding():
    enc = SmallTextEncoder(width=32, layers=1, heads=2)
    out = enc(["a woman speaking to the camera", "hi"])
    assert out.tokens.shape == (2, 8, 32) and out.mask.shape == (2, 8)  # SOT + 6 words + EOT
    assert out.mask[0].all() and out.mask[1].tolist() == [True] * 3 + [False] * 5
    # padding never changes real tokens: "hi" alone equals "hi" padded next to a longer text
    alone = enc(["hi"])
    torch.testing.assert_close(alone.tokens[0], out.tokens[1, :3], rtol=0, atol=1e-5)
    out.tokens.sum().backward()
    assert enc.embed.weight.grad is not None  # trainable


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("clip")
    (path / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": {}})
    )
    torch.manual_seed(0)
    from open_clip.model import CLIP

    tiny = CLIP(**TINY_CLIP)
    save_file(
        {k: v.contiguous() for k, v in tiny.state_dict().items()},
        path / "open_clip_model.safetensors",
    )
    return path, tiny


def test_open_clip_text_tower_from_local_dir(clip_dir):
    path, tiny = clip_dir
    enc = OpenCLIPText(path)
    assert enc.dim == 16 and enc.pooled_dim == 8
    out = enc(["a man laughing", "a dog"])
    assert out.tokens.shape == (2, 5, 16) and out.mask[1].tolist() == [True] * 4 + [False]
    ids = enc.tokenizer(["a man laughing", "a dog"])
    torch.testing.assert_close(out.pooled, tiny.encode_text(ids), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="needs model_name"):
        OpenCLIPText(path / "open_clip_model.safetensors")


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    path = tmp_path_factory.mktemp("t5")
    words = ["<pad>", "</s>", "<unk>", "a", "man", "talking", "dog"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    fast.save_pretrained(path)
    cfg = T5Config(vocab_size=8, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    T5EncoderModel(cfg).save_pretrained(path)
    return path


def test_t5_encoder_from_local_dir(t5_dir):
    enc = T5Text(t5_dir)
    assert enc.dim == 16
    out = enc(["a man talking", "dog"])
    assert out.tokens.shape == (2, 3, 16)
    assert out.mask.tolist() == [[True] * 3, [True, False, False]]
    torch.testing.assert_close(enc(["dog"]).tokens[0, :1], out.tokens[1, :1], rtol=0, atol=1e-5)


def test_missing_paths_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="has no config"):
        T5Text(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        OpenCLIPText(tmp_path / "nope.pt", model_name="ViT-B-32")
    with pytest.raises(ValueError, match="open_clip_config"):
        OpenCLIPText(tmp_path)
