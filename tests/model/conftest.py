import pytest
import torch

from model.helpers import tiny_config
from omni.model.presets import MMDiTConfig


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny kernels run fastest on one thread, and on a shared 2-core machine OpenMP spin-waits
    across busy cores can make them 100x slower; restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cfg() -> MMDiTConfig:
    return tiny_config()


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    path = tmp_path_factory.mktemp("w2v")
    cfg = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        vocab_size=8, feat_extract_norm="layer",
    )  # fmt: skip
    Wav2Vec2Model(cfg).save_pretrained(path)
    Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(path)
    return path
