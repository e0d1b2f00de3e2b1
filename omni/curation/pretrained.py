"""Optional pretrained scorers, each from local files in its standard layout (nothing downloads).

- SyncNet lip-sync (`--syncnet`, syncnet_python's `syncnet_v2.model`): `omni.evaluation.syncnet`
  scores the clip on the face track's boxes; the manifest's `sync_offset` keeps the landmark
  sign (positive: audio late), so it is minus syncnet_python's AV offset.
- Identity consistency (`--insightface DIR`, buffalo_l layout: the recognition model is the
  `.onnx` in DIR that insightface's model router takes for an ArcFace network): up to 8 frames
  spread over the clip are aligned to ArcFace's 5-point template from face-mesh landmarks
  (eye centres, nose tip, mouth corners) and embedded; `face_identity` is the lowest cosine
  similarity of a frame to the clip's mean embedding (a cut to another person pulls it down).
- Aesthetics (`--aesthetic-clip`, `--aesthetic-head`): open_clip ViT-L/14 image embeddings
  (L2-normalised) through the LAION improved-aesthetic-predictor MLP (768 -> 1024 -> 128 -> 64 ->
  16 -> 1, keys `layers.{0,2,4,6,7}.*`), mean over 4 frames spread over the clip.

Models are loaded once per worker process (cached by path).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

IDENTITY_FRAMES = 8
AESTHETIC_FRAMES = 4
# face-mesh landmarks of ArcFace's 5 points, in its template order (image-left eye first)
_LEFT_EYE, _RIGHT_EYE = (33, 133), (362, 263)
_NOSE_TIP, _MOUTH_LEFT, _MOUTH_RIGHT = 1, 61, 291


def weights_tag(path: str | os.PathLike) -> str:
    """Short content hash of a weights file (part of a scorer's version: other weights, re-score)."""
    from omni.evaluation.weights import sha256

    return sha256(path)[:12]


# ---------------------------------------------------------------- SyncNet


@lru_cache(maxsize=2)
def syncnet_model(path: str):
    from omni.evaluation.syncnet import load_syncnet

    return load_syncnet(path, "--syncnet")


def syncnet_sync(frames: np.ndarray, boxes: np.ndarray, audio: np.ndarray, fps: float, path: str):
    """SyncNet on frames (T, H, W, 3) with face boxes (T, 4) x0, y0, w, h normalised (NaN: none)
    and 16 kHz audio from the first frame -> omni.evaluation.syncnet.SyncResult."""
    from omni.evaluation.syncnet import FPS, syncnet_score

    if abs(fps - FPS) > 1e-6:
        raise ValueError(
            f"SyncNet scores {FPS} fps frames, the scoring rate is {fps}: use --fps 25"
        )
    h, w = frames.shape[1:3]
    xyxy = np.asarray(boxes, np.float64) * np.array([w, h, w, h])
    xyxy[:, 2:] += xyxy[:, :2]
    return syncnet_score(syncnet_model(path), frames, xyxy, audio)


# ---------------------------------------------------------------- identity (insightface)


def recognition_file(folder: str | os.PathLike) -> Path:
    """The ArcFace recognition .onnx of an insightface model folder (buffalo_l: w600k_r50.onnx)."""
    import onnx

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(
            f"--insightface: expected an insightface model folder (buffalo_l layout), got {folder}"
        )
    for path in sorted(folder.glob("*.onnx")):
        graph = onnx.load(str(path), load_external_data=False).graph
        dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
        # insightface's model router: 192-px inputs are landmark models, else a square input
        # >= 112 (a multiple of 16) with one output is ArcFace
        square = len(dims) == 4 and dims[2] == dims[3] and dims[2] != 192
        if square and dims[2] >= 112 and dims[2] % 16 == 0 and len(graph.output) == 1:
            return path
    raise ValueError(
        f"--insightface: no ArcFace recognition model (.onnx with a square 112-px input and one "
        f"output) in {folder}; expected buffalo_l's layout with w600k_r50.onnx"
    )


@lru_cache(maxsize=2)
def identity_model(folder: str):
    """insightface's ArcFaceONNX on the folder's recognition model, CPU, one thread."""
    import onnxruntime
    from insightface.model_zoo import get_model

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    model = get_model(
        str(recognition_file(folder)), providers=["CPUExecutionProvider"], sess_options=options
    )
    if getattr(model, "taskname", None) != "recognition":
        raise ValueError(f"--insightface: {folder} has no model insightface routes to recognition")
    return model


def five_points(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """ArcFace's 5 points (5, 2) in pixels from face-mesh landmarks (468, 3) normalised."""
    p = landmarks[:, :2] * np.array([width, height], np.float32)
    return np.stack(
        [
            p[list(_LEFT_EYE)].mean(axis=0),
            p[list(_RIGHT_EYE)].mean(axis=0),
            p[_NOSE_TIP],
            p[_MOUTH_LEFT],
            p[_MOUTH_RIGHT],
        ]
    ).astype(np.float32)


def identity_embeddings(frames: np.ndarray, landmarks: np.ndarray, folder: str) -> np.ndarray:
    """(K, D) L2-normalised embeddings of up to IDENTITY_FRAMES frames that have landmarks."""
    import cv2
    from insightface.utils.face_align import norm_crop

    model = identity_model(folder)
    have = np.flatnonzero(~np.isnan(landmarks[:, 0, 0]))
    if not len(have):
        return np.zeros((0, 0), np.float32)
    picks = have[np.unique(np.linspace(0, len(have) - 1, IDENTITY_FRAMES).round().astype(int))]
    height, width = frames.shape[1:3]
    crops = [
        norm_crop(
            cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR),  # insightface works on BGR images
            five_points(landmarks[t], width, height),
            image_size=model.input_size[0],
        )
        for t in picks
    ]
    emb = np.asarray(model.get_feat(crops), np.float32)  # (K, D)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-12)


def identity_consistency(embeddings: np.ndarray) -> float | None:
    """Lowest cosine similarity of an embedding (K, D), L2-normalised, to their normalised mean."""
    if len(embeddings) < 2:
        return None
    mean = embeddings.mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    return float((embeddings @ mean).min())


# ---------------------------------------------------------------- aesthetics


def aesthetic_head(path: str | os.PathLike):
    """The LAION improved-aesthetic-predictor MLP with its weights (a .pth state dict)."""
    from torch import nn

    from omni.evaluation.weights import check_state_dict, load_state_dict, require_file

    expected = "the LAION aesthetic MLP head (improved-aesthetic-predictor, keys layers.N.*)"
    path = require_file(path, "--aesthetic-head", expected)
    head = nn.Sequential(
        nn.Linear(768, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
    )  # fmt: skip
    state = load_state_dict(path, "--aesthetic-head", expected)
    state = {k.removeprefix("layers."): v for k, v in state.items()}
    check_state_dict(state, head.state_dict(), path, "--aesthetic-head", expected)
    head.load_state_dict(state)
    return head.eval().requires_grad_(False)


def open_clip_image_model(source: str | os.PathLike, model_name: str = "ViT-L-14"):
    """(model, preprocess) of an open_clip checkpoint: a local dir in open_clip's layout
    (open_clip_config.json + weights) or a checkpoint file of `model_name`."""
    import open_clip

    source = Path(source)
    if source.is_dir():
        if not (source / "open_clip_config.json").is_file():
            raise ValueError(
                f"--aesthetic-clip: {source} has no open_clip_config.json; expected open_clip's "
                "local-dir layout or a ViT-L-14 checkpoint file"
            )
        name, pretrained = f"local-dir:{source}", None
    elif source.is_file():
        name, pretrained = model_name, str(source)
    else:
        raise ValueError(f"--aesthetic-clip: {source} does not exist; expected a local file/dir")
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=pretrained, weights_only=True
    )
    return model.eval().requires_grad_(False), preprocess


@lru_cache(maxsize=1)
def aesthetic_model(clip_source: str, head_path: str):
    model, preprocess = open_clip_image_model(clip_source)
    head = aesthetic_head(head_path)
    width = model.visual.output_dim
    if width != 768:
        raise ValueError(
            f"--aesthetic-clip: the head takes 768-d image embeddings (ViT-L/14), the open_clip "
            f"model gives {width}-d"
        )
    return model, preprocess, head


def aesthetic_score(frames: np.ndarray, clip_source: str, head_path: str) -> float:
    """Mean predicted aesthetic score of AESTHETIC_FRAMES frames spread over (T, H, W, 3) RGB."""
    import torch
    from PIL import Image

    model, preprocess, head = aesthetic_model(clip_source, head_path)
    picks = np.unique(np.linspace(0, len(frames) - 1, AESTHETIC_FRAMES).round().astype(int))
    images = torch.stack([preprocess(Image.fromarray(frames[t])) for t in picks])
    with torch.inference_mode():
        emb = model.encode_image(images)  # (K, 768)
        emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return float(head(emb.float()).mean())


def open_clip_weights_file(source: str | os.PathLike, option: str) -> Path:
    """The file open_clip loads for `source`: the file itself, or the checkpoint open_clip picks
    in a local dir (open_clip_config.json + weights). A dir without weights is an error: open_clip
    would build the model with random weights. `option` names the flag in errors."""
    from open_clip.factory import _find_checkpoint_in_dir  # open_clip's own choice of file

    source = Path(source).expanduser()
    if source.is_file():
        return source
    if not source.is_dir():
        raise ValueError(
            f"{option}: {source} does not exist; pass a local open_clip ViT-L-14 checkpoint "
            "file or a folder in open_clip's layout (open_clip_config.json + weights)"
        )
    found = (
        _find_checkpoint_in_dir(source) if (source / "open_clip_config.json").is_file() else None
    )
    if found is None:
        raise ValueError(
            f"{option}: {source} is not an open_clip model folder with weights (expected "
            "open_clip_config.json beside open_clip_model.safetensors / open_clip_pytorch_model.bin)"
        )
    return Path(found)
