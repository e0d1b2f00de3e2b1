"""`omni app` refusals through the real entry point, and the server on loopback without a browser."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from omni.cli import main


def _run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["app", *[str(a) for a in args]])
    return result.exit_code, result.output


def test_refuses_without_exactly_one_model_source(model_dir: Path) -> None:
    code, out = _run()
    assert code == 2 and "give exactly one of --model DIR" in out and "--no-model" in out
    code, out = _run("--model", model_dir, "--ckpt", "x.ckpt")
    assert code == 2 and "exactly one" in out
    code, out = _run("--model", model_dir, "--no-model")
    assert code == 2 and "exactly one" in out


def test_refuses_unusable_files_naming_the_option(tmp_path: Path) -> None:
    code, out = _run("--model", tmp_path / "absent")
    assert code == 2 and "--model" in out and "no such file or directory" in out
    (tmp_path / "empty").mkdir()
    code, out = _run("--model", tmp_path / "empty")
    assert code == 2 and "not an omni model directory" in out and "config.json" in out
    (tmp_path / "bad.ckpt").write_text("not a checkpoint")
    code, out = _run("--ckpt", tmp_path / "bad.ckpt")
    assert code == 2 and "--ckpt" in out and "cannot load" in out
    code, out = _run("--no-model", "--manifest", tmp_path / "m.parquet")
    assert code == 2 and "--manifest" in out and "no such file" in out
    code, out = _run("--no-model", "--results", tmp_path)
    assert code == 2 and "--results" in out and "metrics.json" in out
    code, out = _run("--no-model", "--port", "70000")
    assert code == 2 and "--port" in out


def test_serves_on_loopback_without_phoning_home(tmp_path: Path, monkeypatch) -> None:
    from omni.app.ui import AppConfig, build_app, serve

    attempts = []
    guarded = socket.socket.connect  # the conftest guard: refuses non-loopback addresses

    def record(self, address):
        attempts.append(address)
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", record)

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    config = AppConfig(outputs=tmp_path / "out", workdir=tmp_path / "work")
    app = build_app(config)
    assert not app.analytics_enabled
    url = serve(app, config, "127.0.0.1", 0, block=False)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert not app.share and app.share_url is None
        with urllib.request.urlopen(url + "config", timeout=30) as response:
            page = json.load(response)
        labels = {c["props"].get("label") for c in page["components"]}
        assert {"Generate", "Curation", "Evaluation", "Reference picture"} <= labels
        generate = next(
            c for c in page["components"] if c["props"].get("elem_id") == "omni-generate"
        )
        assert generate["props"]["interactive"] is False  # browse-only: nothing to generate with
    finally:
        app.close()
    hosts = {a[0] if isinstance(a, tuple) else a for a in attempts}
    assert hosts and hosts <= {"127.0.0.1"}  # its own health check and our request, nothing else


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5"])
def test_warns_when_exposed(host: str, capsys) -> None:
    from omni.app.cli import _warn_if_exposed

    _warn_if_exposed(host)
    assert "exposes the app" in capsys.readouterr().err
    _warn_if_exposed("127.0.0.1")
    _warn_if_exposed("localhost")
    assert capsys.readouterr().err == ""
