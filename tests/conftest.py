"""Shared test fixtures: real footage location, an offline guard, small helpers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("OMNI_FIXTURES", REPO.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The shared real-footage folder (`../shared/fixtures`, or $OMNI_FIXTURES)."""
    if not (FIXTURES / "footage").is_dir():
        pytest.skip(f"real footage not found at {FIXTURES} (set OMNI_FIXTURES to its folder)")
    return FIXTURES


@pytest.fixture(scope="session")
def footage(fixtures_dir: Path):
    """footage("d12.mp4") -> path of a real clip."""

    def get(name: str) -> Path:
        path = fixtures_dir / "footage" / name
        if not path.exists():
            pytest.skip(f"fixture {name} missing from {fixtures_dir}")
        return path

    return get


_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")
_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or str(host).startswith(_LOOPBACK):
        return _real_connect(self, address)
    raise RuntimeError(
        f"test tried to open a network connection to {address!r}: omni must run offline"
    )


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with outbound connections refused, so a hidden download fails loudly."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
