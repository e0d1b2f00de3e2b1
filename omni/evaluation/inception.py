"""FID's feature extractor: torch-fidelity's InceptionV3 (the TF FID graph) from a local weights file.

torchmetrics' `FrechetInceptionDistance` builds this network but downloads its weights when no
path is given; here the path is required (`--inception`), checked, and loaded safely first
(weights_only) so a wrong file fails with the parameters it lacks rather than deep in a library.
The file is torch-fidelity's `weights-inception-2015-12-05-6726825d.pth` (a plain state dict of
the TensorFlow 2015-12-05 Inception graph converted to PyTorch).
"""

from __future__ import annotations

import os

from torchmetrics.image.fid import FrechetInceptionDistance

from omni.evaluation.weights import load_state_dict, require_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_VERSION = "torch-fidelity-inception-v3-compat-2048/1"
_EXPECTED = f"torch-fidelity's InceptionV3 state dict ({INCEPTION_FILE})"


def fid_metric(path: str | os.PathLike, option: str = "--inception") -> FrechetInceptionDistance:
    """torchmetrics FID (2048-d pool features, float64 running sums) with weights from `path`.

    Feed uint8 images (N, 3, H, W) with `update(images, real=...)`; any size (resized to 299
    inside, as the TF graph did).
    """
    path = require_file(path, option, _EXPECTED)
    load_state_dict(path, option, _EXPECTED)  # safe load first: only tensors, no pickled code
    try:
        return FrechetInceptionDistance(
            feature=2048, feature_extractor_weights_path=str(path), reset_real_features=False
        )
    except RuntimeError as err:  # strict load_state_dict: names or shapes differ
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise ValueError(
            f"{option}: {path} does not have the parameters of {_EXPECTED}: {lines[-1][:300]}"
        ) from err
