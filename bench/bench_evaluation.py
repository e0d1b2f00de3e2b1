"""Cost of each `omni test` feature extractor per analysed frame, against a bare decode.

Random weights in the real layouts (speed does not depend on the values). Prints one table;
figures go to docs/benchmarks.md. Usage: .venv/bin/python bench/bench_evaluation.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "evaluation"))

from conftest import _i3d_layout, _random_like, _syncnet_layout  # noqa: E402

from omni.evaluation.extractors import EvalOptions, load_extractors  # noqa: E402
from omni.evaluation.scoring import score_video  # noqa: E402
from omni.evaluation.video import chunked, open_video, resampled_frames  # noqa: E402


def _inception_file(folder: Path) -> Path:
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    empty = folder / "empty.pth"
    torch.save({}, empty)
    cls = tf_inception.FeatureExtractorInceptionV3
    original = cls.load_state_dict
    cls.load_state_dict = lambda self, *a, **k: None
    try:
        net = cls("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    finally:
        cls.load_state_dict = original
    state = _random_like({k: tuple(v.shape) for k, v in net.state_dict().items()})
    state |= {k: v for k, v in net.state_dict().items() if not v.is_floating_point()}
    path = folder / "inception.pth"
    torch.save(state, path)
    return path


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument(
        "--video", default=str(REPO.parent / "shared/fixtures/footage/talk_news_a.mp4")
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    weights = {"inception": _inception_file(folder)}
    for name, layout in (("i3d", _i3d_layout()), ("syncnet", _syncnet_layout())):
        weights[name] = folder / f"{name}.pt"
        torch.save(_random_like(layout), weights[name])

    print(f"load average before: {os.getloadavg()[0]:.1f}; torch threads {torch.get_num_threads()}")
    decode = _timed(
        lambda: sum(1 for _ in chunked(resampled_frames(args.video, 25, args.seconds), 16))
    )
    frames = round(args.seconds * 25)
    none = dict(hands=False, landmark_sync=False)
    runs = {
        "decode only (25 fps stream)": None,
        "FID features (InceptionV3)": EvalOptions(inception=weights["inception"], **none),
        "FVD features (I3D, 16-frame clips)": EvalOptions(i3d=weights["i3d"], **none),
        "Sync-C/D (face track + SyncNet)": EvalOptions(
            syncnet=weights["syncnet"], hands=False, landmark_sync=False
        ),
        "landmark sync (face track + mesh)": EvalOptions(hands=False),
        "HKC/HKV (mediapipe pose + hands)": EvalOptions(landmark_sync=False),
    }
    print(f"| step ({frames} frames of {Path(args.video).name}) | s | ms/frame | ÷ decode |")
    print("|---|---|---|---|")
    for label, options in runs.items():
        if options is None:
            seconds = decode
        else:
            ex = load_extractors(options)
            src = open_video(args.video, fps=25, chunk=options.batch, max_seconds=args.seconds)
            seconds = _timed(lambda ex=ex, src=src: score_video(src, ex)) - decode
        print(
            f"| {label} | {seconds:.2f} | {1000 * seconds / frames:.0f} | {seconds / decode:.1f} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
