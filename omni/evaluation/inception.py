"""FID's feature extractor: torch-fidelity's InceptionV3 (the TF FID graph) from a local weights file.

torchmetrics' `FrechetInceptionDistance` builds this network but downloads its weights when no
path is given; here the path is required (`--inception`), checked, and loaded safely first
(weights_only) so a wrong file fails with the parameters it lacks rather than deep in a library.
The file is torch-fidelity's `weights-inception-2015-12-05-6726825d.pth` (a plain state dict of
the TensorFlow 2015-12-05 Inception graph converted to PyTorch).
"""

from __future__ import annotations

import os

from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3

from omni.evaluation.weights import load_state_dict, require_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_VERSION = "torch-fidelity-inception-v3-compat-2048/1"
_EXPECTED = f"torch-fidelity's InceptionV3 state dict ({INCEPTION_FILE})"


def _checked(path: str | os.PathLike, option: str):
    path = require_file(path, option, _EXPECTED)
    load_state_dict(path, option, _EXPECTED)  # safe load first: only tensors, no pickled code
    return path


def _load_error(err: RuntimeError, path, option: str) -> ValueError:
    # torch-fidelity loads strictly: the last line of the error names the first mismatch
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return ValueError(
        f"{option}: {path} does not have the parameters of {_EXPECTED}: {lines[-1][:300]}"
    )


def load_inception(path: str | os.PathLike, option: str = "--inception") -> NoTrainInceptionV3:
    """torchmetrics' InceptionV3 feature extractor: uint8 (N, 3, H, W) → (N, 2048) pool features."""
    path = _checked(path, option)
    try:
        return NoTrainInceptionV3("inception-v3-compat", ["2048"], str(path))
    except RuntimeError as err:
        raise _load_error(err, path, option) from err


def fid_metric(path: str | os.PathLike, option: str = "--inception") -> FrechetInceptionDistance:
    """torchmetrics FID (2048-d pool features, float64 running sums) with weights from `path`.

    Feed uint8 images (N, 3, H, W) with `update(images, real=...)`; any size (resized to 299
    inside, as the TF graph did).
    """
    path = _checked(path, option)
    try:
        return FrechetInceptionDistance(
            feature=2048, feature_extractor_weights_path=str(path), reset_real_features=False
        )
    except RuntimeError as err:
        raise _load_error(err, path, option) from err
