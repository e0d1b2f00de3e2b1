"""Real inputs for the app: a tiny random model, a curated manifest, an `omni test` result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from omni.media import read_audio, read_video, write_video
from omni.model.omni_model import OmniModel, OmniModelConfig, VAESpec
from omni.model.presets import get_preset

SPEECH_SECONDS = 0.6


def _invoke(*args) -> None:
    from omni.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The tiny preset with random weights (zero-init outputs would ignore every condition)."""
    torch.manual_seed(0)
    model = OmniModel(OmniModelConfig(mmdit=get_preset("tiny"), vae=VAESpec(patch=4)))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.mmdit.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.save_pretrained(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def examples(tmp_path_factory, footage, fixtures_dir) -> Path:
    """A reference picture (a real face) and a short speech clip."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("examples")
    face = read_video(footage("talk_news_a.mp4"), max_frames=1, size=(256, 256)).frames[0]
    Image.fromarray(face).save(folder / "face.png")
    speech = read_audio(fixtures_dir / "audio" / "speech_en.wav", 16000, 0.0, SPEECH_SECONDS)
    import soundfile

    soundfile.write(folder / "speech.wav", speech, 16000)
    return folder


@pytest.fixture(scope="session")
def talk_clips(tmp_path_factory, footage) -> Path:
    """Two short real talking clips (128 px, with their sound) in a footage folder."""
    root = tmp_path_factory.mktemp("raw")
    for name in ("talk_news_a", "talk_news_b"):
        source = footage(f"{name}.mp4")
        clip = read_video(source, 0, 2.0, fps=25, size=(128, 128))
        write_video(root / f"{name}.mp4", clip.frames, 25, read_audio(source, 16000, 0, 2.0))
    return root


@pytest.fixture(scope="session")
def curated(tmp_path_factory, talk_clips) -> Path:
    """probe -> split -> score (fast scorers) -> filter -> report, through `omni curate`."""
    out = tmp_path_factory.mktemp("curated")
    (talk_clips / "broken.mp4").write_text("not a video")  # an error row, as in real folders
    _invoke("curate", "probe", talk_clips, "--out", out / "probe.parquet")
    _invoke("curate", "split", out / "probe.parquet", "--out", out / "split.parquet",
            "--min-len", 0.5, "--max-len", 1.0)  # fmt: skip
    _invoke("curate", "score", out / "split.parquet", "--out", out / "score.parquet",
            "--scorers", "quality,motion,speech")  # fmt: skip
    _invoke("curate", "filter", out / "score.parquet", "--out", out / "manifest.parquet")
    _invoke("curate", "report", out / "manifest.parquet", "--out", out / "report.html")
    return out


@pytest.fixture(scope="session")
def results(tmp_path_factory, talk_clips) -> Path:
    """`omni test --generated --real` where the generated videos' sound is 0.4 s late."""
    root = tmp_path_factory.mktemp("eval")
    for name in ("talk_news_a", "talk_news_b"):
        clip = read_video(talk_clips / f"{name}.mp4")
        audio = read_audio(talk_clips / f"{name}.mp4", 16000)
        late = np.concatenate([np.zeros(6400, np.float32), audio])[: len(audio)]
        write_video(root / "real" / f"{name}.mp4", clip.frames, 25, audio)
        write_video(root / "gen" / f"{name}.mp4", clip.frames, 25, late)
    _invoke("test", "--generated", root / "gen", "--real", root / "real", "--out", root / "out",
            "--no-hands")  # fmt: skip
    return root / "out"
