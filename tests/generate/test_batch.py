import csv

import pytest

from omni.generate.batch import JobOutcome, read_jobs, status_path, write_status


def _write(path, rows):
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_jobs_parse_with_relative_paths_and_overrides(tmp_path):
    jobs = read_jobs(
        _write(
            tmp_path / "jobs.csv",
            [
                ["ref", "audio", "text", "seconds", "seed", "out"],
                ["a.png", "a.wav", "a person talks", "2.5", "7", "out/a.mp4"],
                ["/abs/b.png", "", "", "", "", "out/b.mp4"],
            ],
        )
    )
    assert [j.row for j in jobs] == [1, 2]
    a, b = jobs[0].values, jobs[1].values
    assert a["ref"] == tmp_path / "a.png" and a["out"] == tmp_path / "out/a.mp4"
    assert a["seconds"] == 2.5 and a["seed"] == 7 and a["text"] == "a person talks"
    assert str(b["ref"]) == "/abs/b.png" and set(b) == {"ref", "out"}


@pytest.mark.parametrize(
    "rows,match",
    [
        ([["ref", "out", "colour"], ["a.png", "a.mp4", "red"]], "unknown \\['colour'\\]"),
        ([["ref"], ["a.png"]], "missing \\['out'\\]"),
        ([["ref", "out"]], "no jobs"),
        ([["ref", "out", "seed"], ["a.png", "a.mp4", "x"]], "row 1: seed='x'"),
        ([["ref", "out"], ["a.png", ""]], "row 1: `out` is empty"),
        ([["ref", "out"], ["a.png", "o.mp4"], ["b.png", "o.mp4"]], "same output"),
    ],
)
def test_bad_jobs_files_are_clear_errors(tmp_path, rows, match):
    with pytest.raises(ValueError, match=match):
        read_jobs(_write(tmp_path / "jobs.csv", rows))


def test_status_file_accounts_for_every_job(tmp_path):
    path = status_path(tmp_path / "jobs.csv")
    assert path.name == "jobs.status.csv"
    write_status(
        path,
        [JobOutcome(1, "a.mp4", "done", seconds=1.5), JobOutcome(2, "b.mp4", "failed", "no file")],
    )
    rows = list(csv.DictReader(path.open()))
    assert [(r["row"], r["status"], r["reason"]) for r in rows] == [
        ("1", "done", ""),
        ("2", "failed", "no file"),
    ]
    assert list(tmp_path.glob("*.part")) == []
