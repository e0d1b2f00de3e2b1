"""The hook through which `omni test --ckpt` runs its metrics inside Lightning's test loop.

`lightning_cli.run_test(ckpt, data, hook=...)` sets `OmniModule.test_hook`; the module then calls
it with the EMA weights in place. `module.sample(batch)` generates a batch's windows from their
conditions; `batch` holds the real windows (`video`), `clip_id`, the window's driving audio at
16 kHz (`wave` (B, N), silence for clips without audio) and frame rate (`fps` (B,)), the source
file (`path`) and the window start on its video timeline (`t0`) (see
omni.datamodules.datamodule for every key).
"""

from __future__ import annotations

from typing import Any, Protocol


class TestHook(Protocol):
    """What the evaluation code implements to feed its metrics from the test loop."""

    def on_test_start(self, module: Any) -> None:
        """Called once per process before the first batch (e.g. move metrics to module.device)."""

    def test_step(self, module: Any, batch: dict, batch_idx: int) -> Any:
        """Called for every test batch: generate with module.sample(batch), update metrics."""

    def on_test_end(self, module: Any) -> None:
        """Called once per process after the last batch (compute, sync and log the metrics)."""
