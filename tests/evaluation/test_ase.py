"""ASE through `omni test --ase-clip/--ase-head`: a tiny random open_clip model in open_clip's
local-dir layout and a random LAION aesthetic head (.pth, keys layers.N.*), end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from omni import media
from omni.cli import main
from omni.evaluation.scorers import ASE_VERSION

# open_clip's CLIP with ViT-L/14's 768-d embedding (what the LAION head takes), tiny otherwise
TINY_CLIP_768 = {
    "embed_dim": 768,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 16, "head_width": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


def _laion_head() -> torch.nn.Sequential:
    """improved-aesthetic-predictor's MLP (768 → 1024 → 128 → 64 → 16 → 1, dropouts between)."""
    from torch import nn

    return nn.Sequential(
        nn.Linear(768, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
    )  # fmt: skip


@pytest.fixture(scope="module")
def ase_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(open_clip local dir: open_clip_config.json + open_clip_model.safetensors, head .pth)."""
    from open_clip.model import CLIP
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("ase_clip")
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP_768, "preprocess_cfg": {}})
    )
    torch.manual_seed(0)
    save_file(
        {k: v.contiguous() for k, v in CLIP(**TINY_CLIP_768).state_dict().items()},
        folder / "open_clip_model.safetensors",
    )
    head = tmp_path_factory.mktemp("ase_head") / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save({f"layers.{k}": v for k, v in _laion_head().state_dict().items()}, head)
    return folder, head


def _reference(frames: np.ndarray, folder: Path, head: Path) -> np.ndarray:
    """Per-frame LAION aesthetic scores computed here with open_clip and torch directly."""
    import open_clip
    from PIL import Image

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    mlp = _laion_head()
    state = torch.load(head, weights_only=True)
    mlp.load_state_dict({k.removeprefix("layers."): v for k, v in state.items()})
    model.eval(), mlp.eval()
    with torch.no_grad():
        x = model.encode_image(torch.stack([preprocess(Image.fromarray(f)) for f in frames]))
        x = x / x.norm(dim=-1, keepdim=True)
        return mlp(x)[:, 0].double().numpy()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (10, 32, 32, 3), dtype=np.uint8)
    media.write_video(tmp_path / "gen" / "clip.mp4", frames, 25)
    media.write_video(tmp_path / "real" / "clip.mp4", frames // 3, 25)  # a different picture
    return tmp_path / "gen", tmp_path / "real"


def _run(*args) -> object:
    base = ["test", "--no-hands", "--no-landmark-sync", "--batch", "4"]
    return CliRunner().invoke(main, [str(a) for a in [*base, *args]])


def test_ase_end_to_end_with_weights_hashes_and_report(tmp_path: Path, ase_files) -> None:
    folder, head = ase_files
    gen, real = _folders(tmp_path)
    out = tmp_path / "out"
    result = _run(
        "--generated", gen, "--real", real, "--out", out,
        "--ase-clip", folder, "--ase-head", head, "--scorer-stride", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    ase = metrics["metrics"]["ase"]
    assert ase["status"] == "ok" and ase["version"] == ASE_VERSION
    assert ase["videos"] == 1 and ase["real_videos"] == 1 and ase["higher_is_better"] is True
    # frames 0, 3, 6, 9 of the decoded videos (batches of 4: the stride runs across chunks)
    for side, key in ((gen, "value"), (real, "real_value")):
        frames = media.read_video(side / "clip.mp4").frames
        assert len(frames) == 10
        expected = _reference(frames[::3], folder, head).mean()
        assert ase[key] == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert ase["value"] != pytest.approx(ase["real_value"])
    weights = metrics["weights"]
    assert weights["ase_clip"]["sha256"] == _sha(folder / "open_clip_model.safetensors")
    assert weights["ase_clip"]["path"] == str(folder / "open_clip_model.safetensors")
    assert weights["ase_head"]["sha256"] == _sha(head)
    assert {w["version"] for k, w in weights.items() if k.startswith("ase")} == {ASE_VERSION}
    assert metrics["options"]["scorer_stride"] == 3
    assert metrics["metrics"]["iqa"]["status"] == "unavailable"
    html = (out / "report.html").read_text()
    assert ASE_VERSION in html and _sha(head)[:16] in html
    assert f"<td>{ase['value']:.4g}</td>" in html  # the summary row
    assert "ase" in result.output


def test_ase_unavailable_without_weights_names_the_options(tmp_path: Path) -> None:
    gen, real = _folders(tmp_path)
    result = _run("--generated", gen, "--real", real, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    ase = metrics["metrics"]["ase"]
    assert ase["status"] == "unavailable" and "value" not in ase
    assert ase["enable_with"].startswith("--ase-clip") and "--ase-head" in ase["enable_with"]
    assert "ase_clip" not in metrics["weights"]
    assert "--ase-clip" in (tmp_path / "out" / "report.html").read_text()


def test_ase_weights_errors_are_usage_errors(tmp_path: Path, ase_files) -> None:
    folder, head = ase_files
    gen, _ = _folders(tmp_path)
    args = ("--generated", gen, "--out", tmp_path / "out")
    only_clip = _run(*args, "--ase-clip", folder)
    assert only_clip.exit_code == 2 and "needs both" in only_clip.output
    missing = _run(*args, "--ase-clip", tmp_path / "absent", "--ase-head", head)
    assert missing.exit_code == 2 and "--ase-clip" in missing.output
    empty = tmp_path / "config_only"
    empty.mkdir()
    (empty / "open_clip_config.json").write_text((folder / "open_clip_config.json").read_text())
    no_weights = _run(*args, "--ase-clip", empty, "--ase-head", head)  # open_clip: random init
    assert no_weights.exit_code == 2 and "not an open_clip model folder with weights" in (
        no_weights.output
    )
    junk = tmp_path / "junk.pth"
    torch.save({"layers.0.weight": torch.zeros(3, 3)}, junk)
    bad_head = _run(*args, "--ase-clip", folder, "--ase-head", junk)
    assert bad_head.exit_code == 2 and "--ase-head" in bad_head.output
    assert "--aesthetic-head" not in bad_head.output  # the curation option is not named
    twice = _run(*args, "--ase-clip", folder, "--ase-head", head, "--scorer", "ase=numpy:mean")
    assert twice.exit_code == 2 and "ASE given twice" in twice.output
