"""`omni demo` orchestration: steps recorded, failures isolated, every number in the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from omni.demo import pipeline
from omni.demo.effects import paired_effect


def test_failed_step_is_recorded_and_dependents_skipped(tmp_path):
    def ok(run):
        run.effects["Made-up numbers for the test"] = [
            paired_effect(
                "claim",
                "measure",
                np.array([0.9, 0.8, 0.7, 0.8, 0.8]),
                np.array([0.1, 0.2, 0.3, 0.2, 0.2]),
            )
        ]
        return "fine"

    def broken(run):
        raise RuntimeError("boom")

    steps = [
        pipeline.Step("first", ok),
        pipeline.Step("second", broken, needs=("first",)),
        pipeline.Step("third", ok, needs=("second",)),
    ]
    run = pipeline.run_demo(pipeline.DemoConfig(out=tmp_path), steps)
    assert [s["status"] for s in run.steps] == ["ok", "failed", "skipped"]
    summary = json.loads((tmp_path / "demo.json").read_text())
    assert summary["steps"][1]["note"] == "RuntimeError: boom"
    assert "needs second" in summary["steps"][2]["note"]
    effect = summary["effects"]["Made-up numbers for the test"][0]
    assert effect["difference"] == pytest.approx(0.6) and effect["significant"]
    page = (tmp_path / "report.html").read_text()
    assert "RuntimeError: boom" in page and "0.600" in page and "demo.json" in page


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    """`omni demo --quick`: every step runs and the report holds every effect's numbers."""
    from omni.cli import main

    result = CliRunner().invoke(main, ["demo", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "demo.json").read_text())
    names = [s["name"] for s in summary["steps"]]
    assert names == ["data", "calibration", "curate", "fit", "generate", "effects", "test"]
    assert summary["settings"]["stage_steps"] == {"text_ref": 10, "audio": 15, "pose": 5}
    assert summary["settings"]["generate_seconds"] == 1.0
    fits = {c.split()[3]: c for c in summary["commands"] if c.startswith("omni fit --stage")}
    # --quick has too few talking-face clips for the audio stage's own manifest: it says so
    assert "train.parquet" in fits["audio"] and "train_audio" not in fits["audio"]
    assert any("it trains on every curated train clip" in n for n in summary["notes"])
    assert all(s["status"] == "ok" for s in summary["steps"]), summary["steps"]
    page = (tmp_path / "report.html").read_text()
    claims = {"audio steers the mouth", "pose steers the body", "reference steers identity"}
    assert len(summary["effects"]) == 2
    for found in summary["effects"].values():
        assert {e["name"] for e in found} == claims
        for e in found:  # n may be 0 for generations where no face/body is found: shown as n/a
            assert f"<td>{e['n']}</td>" in page
            if e["difference"] is not None:
                assert f"{e['difference']:.3f}" in page
    calibration = next(v for k, v in summary["effects"].items() if k.startswith("Calibration"))
    assert all(e["ci_low"] > 0 and e["n"] >= 2 for e in calibration)  # n < 5: not "holds"
    generated = sorted((tmp_path / "generated" / "own").glob("*.mp4"))
    assert len(generated) == 4
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["metrics"]
    for key in ("curation report", "training curves", "evaluation report"):
        assert key in page


def test_ablation_ratios_are_checked():
    import click

    from omni.cli import main
    from omni.demo.cli import parse_ratios

    assert parse_ratios("0.1, 0.5,1.0") == (0.1, 0.5, 1.0)
    assert parse_ratios("") == ()
    for bad in ("0.1,2", "half"):
        with pytest.raises(click.UsageError, match=r"numbers in \[0, 1\]"):
            parse_ratios(bad)
    result = CliRunner().invoke(main, ["demo", "--ablate-audio-ratio", "x"])
    assert result.exit_code == 2 and "got 'x'" in result.output


def test_audio_stage_takes_the_talking_faces_when_there_are_enough(tmp_path):
    from omni.demo.pipeline import MIN_AUDIO_CLIPS, audio_stage_manifest
    from omni.manifest import write_manifest

    def manifest(name, n):
        df = pd.DataFrame(
            {"clip_id": [f"c{i}" for i in range(n)], "source": "x.mp4", "status": "ok"}
        )
        return write_manifest(df, tmp_path / f"{name}.parquet", root=tmp_path)

    train, notes = manifest("train", 20), []
    talking = manifest("talking", MIN_AUDIO_CLIPS)
    assert audio_stage_manifest(train, talking, notes) == talking and notes == []
    few = manifest("few", MIN_AUDIO_CLIPS - 1)
    assert audio_stage_manifest(train, few, notes) == train
    assert notes and f"Only {MIN_AUDIO_CLIPS - 1} audio-eligible" in notes[0]
