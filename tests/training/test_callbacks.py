"""Videos written by the training loops carry omni's provenance (watermark + record)."""

from types import SimpleNamespace

import numpy as np
import torch

from omni.media import probe, read_audio
from omni.provenance import ProvenanceRecord, file_sha256, verify
from omni.training.callbacks import PredictionVideos, write_generated

F, SIDE, FPS = 9, 32, 25.0


def _video(b: int) -> torch.Tensor:
    """(b, 3, F, 32, 32) smooth moving patterns in [-1, 1]."""
    y, x = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
    frames = [
        torch.stack([torch.sin((x + 2 * t + c) / 5.0) * torch.cos((y - t) / 7.0) for c in range(3)])
        for t in range(F)
    ]
    return torch.stack(frames, 1)[None].repeat(b, 1, 1, 1, 1) * 0.6


def test_prediction_videos_are_marked_with_their_record_and_audio(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"a checkpoint")
    n = round(F / FPS * 16000)
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)).astype(np.float32)
    batch = {
        "clip_id": ["talk", "mute"],
        "key": torch.tensor([100, 200]),
        "active": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool),
        "caption": ["a man talks", ""],
        "path": ["/data/talk.mp4", "/data/mute.mp4"],
        "t0": torch.tensor([0.4, 0.0]),
        "fps": torch.tensor([FPS, FPS]),
        "wave": torch.stack([torch.from_numpy(tone), torch.zeros(n)]),
        "has_audio": torch.tensor([True, False]),
    }
    trainer = SimpleNamespace(ckpt_path=str(ckpt), log_dir=str(tmp_path), default_root_dir=None)
    writer = PredictionVideos(out_dir=str(tmp_path / "out"))
    prediction = {"clip_id": batch["clip_id"], "video": _video(2)}
    writer.write_on_batch_end(trainer, None, prediction, None, batch, 0, 0)

    talk, mute = tmp_path / "out" / "talk.mp4", tmp_path / "out" / "mute.mp4"
    report = verify(talk)
    assert report.marked and report.consistent, report.to_dict()
    assert report.record.checkpoint_sha256 == file_sha256(ckpt)
    assert report.record.seed == 107
    assert report.record.conditions["active"] == "text+ref+audio"
    assert report.record.conditions["text"] == "a man talks"
    info = probe(talk)
    assert info.num_frames == F and min(info.width, info.height) >= 128  # enlarged to mark
    assert info.has_audio and not probe(mute).has_audio
    heard = read_audio(talk, sr=16000)
    assert np.sqrt(np.mean(heard[: n // 2] ** 2)) > 0.2  # the driving tone, not silence
    assert verify(mute).marked and verify(mute).record.conditions["active"] == "text+ref"


def test_write_generated_leaves_large_pictures_unscaled(tmp_path):
    frames = ((_video(1)[0].permute(1, 2, 3, 0) + 1) * 127.5).byte().numpy()
    frames = frames.repeat(5, axis=1).repeat(5, axis=2)  # 160 x 160
    path = write_generated(tmp_path / "v.mp4", frames, FPS, ProvenanceRecord(seed=3))
    assert probe(path).width == 160
    assert verify(path).marked and verify(path).record.seed == 3
