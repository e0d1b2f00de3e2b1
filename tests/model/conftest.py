import pytest

from model.helpers import tiny_config
from omni.model.presets import MMDiTConfig


@pytest.fixture
def cfg() -> MMDiTConfig:
    return tiny_config()
