"""Pretrained scorer options, each loaded from a tiny random checkpoint in its real on-disk layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from omni.curation import pretrained
from omni.curation.score import score_task
from omni.curation.scorers import ScoreConfig, decode_clip, scorer_version

TINY_CLIP_768 = {
    "embed_dim": 768,  # the aesthetic head takes ViT-L/14's 768-d image embeddings
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 16, "head_width": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


def _task(path, tmp_path, scorers, end=1.2, **options) -> dict:
    config = ScoreConfig(keypoints_dir=str(tmp_path / "kp"), **options)
    return {
        "clip_id": "c1",
        "path": str(path),
        "start_s": 0.0,
        "end_s": end,
        "scorers": list(scorers),
        "versions": {n: scorer_version(n, config) for n in scorers},
        "config": config.__dict__,
    }


@pytest.fixture(scope="module")
def syncnet_file(tmp_path_factory):
    """syncnet_python's syncnet_v2.model: a plain state dict, old-style (no num_batches_tracked)."""
    from omni.evaluation.syncnet import SyncNet

    torch.manual_seed(0)
    state = {k: v for k, v in SyncNet().state_dict().items() if "num_batches" not in k}
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(state, path)
    return path


def _onnx_model(path, size: int, out_dim: int) -> None:
    """A random network with ArcFace's interface: (N, 3, size, size) -> (N, out_dim)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(size)
    cells = (size // 8) ** 2 * 4
    weights = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 8, 8)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.normal(size=(cells, out_dim)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(np.zeros(out_dim, np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["input.1", "conv_w"], ["c"], name="conv", strides=[8, 8]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["embedding"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", out_dim])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def insightface_dir(tmp_path_factory):
    """buffalo_l's layout: a 192-px landmark model beside the 112-px recognition model."""
    folder = tmp_path_factory.mktemp("buffalo_l")
    _onnx_model(folder / "2d106det.onnx", 192, 212)
    _onnx_model(folder / "w600k_r50.onnx", 112, 512)
    return folder


@pytest.fixture(scope="module")
def aesthetic_files(tmp_path_factory):
    """open_clip's local-dir layout (tiny config, 768-d) and the LAION head's .pth state dict."""
    from open_clip.model import CLIP
    from safetensors.torch import save_file
    from torch import nn

    folder = tmp_path_factory.mktemp("clip")
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP_768, "preprocess_cfg": {}})
    )
    torch.manual_seed(0)
    save_file(
        {k: v.contiguous() for k, v in CLIP(**TINY_CLIP_768).state_dict().items()},
        folder / "open_clip_model.safetensors",
    )
    layers = nn.Sequential(
        nn.Linear(768, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
    )  # fmt: skip
    head = folder / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save({f"layers.{k}": v for k, v in layers.state_dict().items()}, head)
    return folder, head


def test_syncnet_lipsync_on_real_speech(footage, tmp_path, syncnet_file):
    from omni.evaluation.syncnet import load_syncnet, syncnet_score

    task = _task(footage("talk_news_b.mp4"), tmp_path, ("lipsync",), syncnet=str(syncnet_file))
    out = score_task(task)
    assert out["score_error"] is None and out["sync_method"] == "syncnet"
    assert out["lipsync_version"].startswith("2+syncnet:")
    # the same as omni.evaluation.syncnet on the face track's boxes, offset in omni's sign
    clip = decode_clip(task["path"], "c1", 0.0, 1.2, ScoreConfig(syncnet=str(syncnet_file)))
    assert clip.mesh_every == 1  # SyncNet's face boxes are re-centred on every frame
    box = clip.faces.box * np.array([524, 524, 524, 524])
    box[:, 2:] += box[:, :2]
    ref = syncnet_score(load_syncnet(syncnet_file), clip.frames, box, clip.audio)
    assert out["sync_offset"] == -ref.offset and abs(ref.offset) <= 15
    assert out["sync_conf"] == pytest.approx(ref.sync_c) and out["sync_dist"] > 0


def test_identity_consistency_from_insightface_folder(footage, tmp_path, insightface_dir):
    import cv2
    import onnxruntime
    from insightface.utils.face_align import norm_crop

    assert pretrained.recognition_file(insightface_dir).name == "w600k_r50.onnx"
    task = _task(footage("talk_news_b.mp4"), tmp_path, ("face",), insightface=str(insightface_dir))
    out = score_task(task)
    assert out["score_error"] is None and out["face_version"].startswith("3+insightface:")
    # recompute by hand: 8 frames, ArcFace alignment from mesh points, BGR, (x - 127.5) / 127.5
    clip = decode_clip(task["path"], "c1", 0.0, 1.2, ScoreConfig())
    clip.mouth_needed = False  # no lip-sync in this run: the mesh runs at the detection frames
    lm = clip.faces.landmarks
    have = np.flatnonzero(~np.isnan(lm[:, 0, 0]))
    assert len(have) == 3  # frames 0, 10, 20 of 30
    picks = have[np.unique(np.linspace(0, len(have) - 1, 8).round().astype(int))]
    crops = np.stack(
        [
            norm_crop(
                cv2.cvtColor(clip.frames[t], cv2.COLOR_RGB2BGR),
                pretrained.five_points(lm[t], 524, 524),
            )
            for t in picks
        ]
    )
    blob = (crops[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) - 127.5) / 127.5
    session = onnxruntime.InferenceSession(str(insightface_dir / "w600k_r50.onnx"))
    emb = session.run(None, {"input.1": blob})[0]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert out["face_identity"] == pytest.approx(pretrained.identity_consistency(emb), abs=1e-4)
    assert -1 <= out["face_identity"] < 1


def test_identity_consistency_measure():
    same = np.tile([[0.6, 0.8]], (4, 1))
    assert pretrained.identity_consistency(same) == pytest.approx(1.0)
    other = np.array([[0.6, 0.8], [0.6, 0.8], [0.6, 0.8], [1.0, 0.0]])
    assert pretrained.identity_consistency(other) < 0.9
    assert pretrained.identity_consistency(same[:1]) is None


def test_wrong_insightface_folder_is_a_clear_error(tmp_path):
    _onnx_model(tmp_path / "2d106det.onnx", 192, 212)
    with pytest.raises(ValueError, match="no ArcFace recognition model"):
        pretrained.recognition_file(tmp_path)


def test_aesthetic_score_from_open_clip_and_laion_head(footage, tmp_path, aesthetic_files):
    import open_clip
    from PIL import Image

    folder, head = aesthetic_files
    task = _task(
        footage("talk_news_b.mp4"), tmp_path, ("aesthetics",),
        aesthetic_clip=str(folder), aesthetic_head=str(head),
    )  # fmt: skip
    out = score_task(task)
    assert out["score_error"] is None and out["aesthetics_version"].startswith("1+aesthetic_clip:")
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    frames = decode_clip(task["path"], "c1", 0.0, 1.2, ScoreConfig()).frames
    picks = np.linspace(0, len(frames) - 1, 4).round().astype(int)
    with torch.no_grad():
        emb = model.eval().encode_image(
            torch.stack([preprocess(Image.fromarray(frames[t])) for t in picks])
        )
        emb = emb / emb.norm(dim=-1, keepdim=True)
        state = torch.load(head, weights_only=True)
        x = emb
        for i in (0, 2, 4, 6):
            x = x @ state[f"layers.{i}.weight"].T + state[f"layers.{i}.bias"]
        x = x @ state["layers.7.weight"].T + state["layers.7.bias"]
    assert out["aesthetic"] == pytest.approx(float(x.mean()), rel=1e-4)
    # without the files: null, never a stand-in number
    assert (
        score_task(_task(footage("talk_news_b.mp4"), tmp_path, ("aesthetics",)))["aesthetic"]
        is None
    )


def test_bad_weights_are_usage_errors(tmp_path, aesthetic_files):
    from omni.curation.cli import curate
    from omni.manifest import write_manifest

    folder, _ = aesthetic_files
    import pandas as pd

    df = pd.DataFrame([{"clip_id": "a", "source": "a.mp4", "status": "ok"}])
    write_manifest(df, tmp_path / "m.parquet")
    (tmp_path / "junk.pth").write_bytes(b"not weights")
    config_only = tmp_path / "config_only"  # open_clip would build it with random weights
    config_only.mkdir()
    (config_only / "open_clip_config.json").write_text(
        (folder / "open_clip_config.json").read_text()
    )
    runner = CliRunner()
    for args, expected in (
        (["--syncnet", tmp_path / "junk.pth"], "--syncnet"),
        (
            ["--aesthetic-clip", folder, "--aesthetic-head", tmp_path / "junk.pth"],
            "--aesthetic-head",
        ),
        (["--aesthetic-clip", folder], "needs both"),
        (
            [
                "--aesthetic-clip",
                config_only,
                "--aesthetic-head",
                folder / "sac+logos+ava1-l14-linearMSE.pth",
            ],
            "--aesthetic-clip: ",  # names the flag (message: open_clip_config.json beside weights)
        ),
        (["--insightface", tmp_path], "no ArcFace recognition model"),
    ):
        result = runner.invoke(
            curate,
            ["score", str(tmp_path / "m.parquet"), "--out", str(tmp_path / "o.parquet")]
            + [str(a) for a in args],
        )
        assert result.exit_code == 2 and expected in result.output, result.output
