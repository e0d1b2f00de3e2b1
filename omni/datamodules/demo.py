"""The default data: omni's built-in synthetic demo dataset, generated once and then reused.

`omni fit` with no manifest trains on it, so every stage runs out of the box. The dataset lives
in the demo cache (`omni.demo.synth.cache_root()`, `$OMNI_CACHE/demo`), one folder per set of
arguments; its manifests carry eligibility flags (talking faces for audio, bodies for pose).
"""

from __future__ import annotations

from pathlib import Path


def demo_manifest(n_clips: int, resolution: int, seed: int) -> Path:
    """Train manifest of the demo dataset with `n_clips` clips drawn at about `resolution` px."""
    from omni.demo.synth import demo_dataset

    size = max(32, resolution + resolution % 2)
    return demo_dataset(n_clips=n_clips, size=size, seed=seed)
