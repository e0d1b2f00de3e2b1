"""The Evaluation tab's functions: a metrics.json as tables, plots and video pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omni.app import evaluation_view as ev


def _metrics(gen: Path, real: Path) -> dict:
    """A result in the shape `omni.evaluation.results.write_outputs` writes (the real writer's
    output is read by the slow test below)."""
    row = {"frames": 50, "audio": "own", "notes": [], "height": 128, "width": 128}
    return {
        "results_version": 1,
        "created_utc": "2026-01-01T00:00:00+00:00",
        "generated": str(gen.parent),
        "real": str(real.parent),
        "metrics": {
            "landmark_sync_corr": {"status": "ok", "higher_is_better": True, "value": 0.123456,
                                   "real_value": 0.5, "videos": 2, "real_videos": 2},
            "hkv": {"status": "no samples", "higher_is_better": None, "videos": 0,
                    "reason": "no hands"},
            "fid": {"status": "unavailable", "reason": "no Inception weights given",
                    "enable_with": "--inception FILE"},
            "fvd": {"status": "ok", "value": 12.5, "generated_samples": 3, "real_samples": 3},
        },
        "videos": [
            {"name": "a", "generated": row | {"path": str(gen), "landmark_sync_corr": 0.1},
             "real": row | {"path": str(real), "landmark_sync_corr": 0.4}},
            {"name": "b", "generated": row | {"path": "gone.mp4", "landmark_sync_corr": float("nan"),
                                              "notes": ["landmark sync: no face"]}},
        ],
    }  # fmt: skip


@pytest.fixture
def result_dir(tmp_path: Path) -> Path:
    gen, real = tmp_path / "gen" / "a.mp4", tmp_path / "real" / "a.mp4"
    for p in (gen, real):
        p.parent.mkdir()
        p.write_bytes(b"video")
    out = tmp_path / "out"
    out.mkdir()
    text = json.dumps(_metrics(gen, real)).replace("NaN", "null")  # as clean_json writes it
    (out / "metrics.json").write_text(text)
    (out / "report.html").write_text("<!doctype html>")
    return out


def test_metrics_table_says_value_or_why_not(result_dir: Path) -> None:
    results = ev.open_results(result_dir)
    table = ev.metrics_table(results).set_index("metric")
    assert table.loc["landmark_sync_corr", "generated"] == 0.1235  # 4 significant digits
    assert table.loc["landmark_sync_corr", "real"] == 0.5
    assert table.loc["landmark_sync_corr", "better"] == "higher"
    assert table.loc["fvd", "better"] == "lower" and table.loc["fvd", "samples"] == 3
    assert table.loc["hkv", "better"] == "closer to real" and table.loc["hkv", "note"] == "no hands"
    assert table.loc["fid", "status"] == "unavailable"
    assert table.loc["fid", "note"] == "no Inception weights given; enable with --inception FILE"
    assert results.report == result_dir / "report.html"


def test_per_video_table_and_bars(result_dir: Path) -> None:
    results = ev.open_results(result_dir / "metrics.json")
    table = ev.videos_table(results)
    assert table[["video", "side"]].values.tolist() == [
        ["a", "generated"],
        ["a", "real"],
        ["b", "generated"],
    ]
    assert table["landmark_sync_corr"].tolist()[:2] == [0.1, 0.4]
    assert table.loc[2, "notes"] == "landmark sync: no face"
    fig = ev.bars(results)
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["landmark_sync_corr"]  # frames is not a score
    heights = [p.get_height() for p in panels[0].patches]
    assert heights[0] == 0.1 and heights[2] == 0.4  # generated a, (b is NaN), real a


def test_video_pairs_find_files_or_say_why_not(result_dir: Path) -> None:
    results = ev.open_results(result_dir)
    gen, real, note = ev.video_pair(results, "a")
    assert gen.name == "a.mp4" and gen.parent.name == "gen" and real.parent.name == "real"
    assert note == ""
    gen, real, note = ev.video_pair(results, "b")
    assert gen is None and real is None and note == "generated video 'gone.mp4' is not a file here"
    results.metrics["videos"][1]["generated"]["path"] = None  # checkpoint mode: in memory
    assert ev.video_pair(results, "b")[2] == "generated video was scored in memory (no file)"
    with pytest.raises(ValueError, match=r"no video named 'c'.*\['a', 'b'\]"):
        ev.video_pair(results, "c")


def test_open_results_refuses_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected an `omni test --out` directory"):
        ev.open_results("")
    with pytest.raises(ValueError, match=r"no metrics\.json there"):
        ev.open_results(tmp_path)
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        ev.open_results(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"results_version": 99, "metrics": {}}))
    with pytest.raises(ValueError, match="results_version 99; re-run `omni test`"):
        ev.open_results(tmp_path)


@pytest.mark.slow
def test_reads_what_omni_test_writes(results: Path) -> None:
    from omni.evaluation.results import RESULTS_VERSION

    assert RESULTS_VERSION in ev.SUPPORTED_RESULTS
    opened = ev.open_results(results)
    table = ev.metrics_table(opened).set_index("metric")
    assert table.loc["landmark_sync_corr", "status"] == "ok"
    assert table.loc["fid", "status"] == "unavailable"
    assert "; enable with --inception " in table.loc["fid", "note"]
    assert ev.bars(opened) is not None
    gen, real, note = ev.video_pair(opened, "talk_news_a")
    assert gen.parent.name == "gen" and real.parent.name == "real" and note == ""
