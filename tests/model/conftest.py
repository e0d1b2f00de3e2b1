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
