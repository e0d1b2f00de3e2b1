"""The Generate tab's work through OmniPipeline on a tiny random model, and its status lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni.app.generation import Request, generate, provenance_markdown
from omni.generate.pipeline import OmniPipeline
from omni.media import probe
from omni.provenance import C2paStatus, Payload, ProvenanceRecord, VerifyReport, WatermarkResult


@pytest.fixture(scope="module")
def pipe(model_dir: Path) -> OmniPipeline:
    return OmniPipeline.from_pretrained(model_dir, device="cpu")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny kernels run fastest on one thread on the shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_generates_writes_and_verifies(pipe, examples: Path, tmp_path: Path) -> None:
    seen: list[tuple[float, str]] = []
    request = Request(
        ref=str(examples / "face.png"), audio=str(examples / "speech.wav"), steps=2, seed=7
    )
    done = generate(pipe, request, tmp_path, lambda f, d: seen.append((f, d)))
    info = probe(done.video)
    assert done.video.parent == tmp_path and done.video.name.endswith("-seed7.mp4")
    assert info.num_frames == 15 and info.has_audio  # 0.6 s of speech at 25 fps
    assert done.details["conditions"] == ["text", "ref", "audio"]
    assert done.details["settings"]["steps"] == 2 and done.details["seed"] == 7
    # 15 frames = two 9-frame segments, two sampler steps each
    fractions = [f for f, d in seen if d.startswith("segment")]
    assert fractions == [0.25, 0.5, 0.75, 1.0]
    assert seen[-1] == (1.0, "checking its watermark and provenance")
    assert done.provenance.path == str(done.video)  # the written file is what was verified
    assert done.provenance.record.seed == 7  # the provenance record save_video wrote
    assert done.provenance.record.conditions["active"] == "text+ref+audio"
    found = "found" if done.provenance.marked else "not found"  # noise from an untrained model
    assert provenance_markdown(done.provenance).startswith(f"- **watermark**: {found} (p = ")


def test_refuses_missing_or_unusable_inputs(pipe, examples: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected a reference picture"):
        generate(pipe, Request(ref=None), tmp_path)
    with pytest.raises(ValueError, match="at least 1 sampler step"):
        generate(pipe, Request(ref=str(examples / "face.png"), steps=0), tmp_path)
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture")
    with pytest.raises(ValueError, match=r"fake\.png"):
        generate(pipe, Request(ref=str(fake), steps=1), tmp_path)
    assert not list(tmp_path.glob("*.mp4"))


def _report(mark: WatermarkResult | None, record, c2pa: C2paStatus, error=None) -> VerifyReport:
    return VerifyReport("v.mp4", mark, record, c2pa, error)


def test_status_lines_say_what_verify_found() -> None:
    sha = "ab" * 32
    mark = WatermarkResult(True, 1e-9, 40, Payload(checkpoint=sha[:6]), 2.0, (0, 0), 32)
    record = ProvenanceRecord(checkpoint_sha256=sha, seed=3, created="2026-01-01T00:00:00+00:00")
    signed = C2paStatus(present=True, state="Valid", signer="omni test")
    lines = provenance_markdown(_report(mark, record, signed)).splitlines()
    assert lines == [
        "- **watermark**: found (p = 1e-09, 40/40 known bits, checkpoint ababab)",
        f"- **provenance record**: omni {record.version}, checkpoint abababababab, seed 3, "
        "watermark on, 2026-01-01T00:00:00+00:00",
        "- **C2PA**: Valid (omni test)",
    ]
    unmarked = WatermarkResult(False, 0.4, 22, None, 2.0, (0, 0), 32)
    text = provenance_markdown(_report(unmarked, None, C2paStatus(present=False)))
    assert "not found (p = 0.4, 22/40" in text and "none in the file's metadata" in text
    assert "C2PA**: not signed" in text
    text = provenance_markdown(_report(None, None, C2paStatus(present=False), "too small"))
    assert "could not be checked" in text and text.endswith("- note: too small")
