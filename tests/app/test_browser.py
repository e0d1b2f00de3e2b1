"""`omni app` driven in headless Chromium (Debian's /usr/bin/chromium, never a downloaded one).

The server is the real `omni app` command in a subprocess whose sockets may reach loopback only;
the page's requests are recorded too, so anything phoning home fails the tests. The static
reports (curation and evaluation report.html) are opened from disk in the same browser.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from omni.app.generation import provenance_markdown
from omni.manifest import read_manifest
from omni.media import probe
from omni.provenance import verify

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",  # a synthetic microphone (a beeping tone)
    "--use-fake-ui-for-media-stream",
]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} missing: install Debian's chromium (`./dev test --extra` does)",
    ),
]

# Runs `omni app` with every non-loopback connection refused and written to a log file.
GUARDED = """
import socket, sys
log, connect = sys.argv.pop(1), socket.socket.connect
def guarded(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family != socket.AF_UNIX and not str(host).startswith(("127.", "::1", "localhost")):
        open(log, "a").write(f"{address!r}\\n")
        raise OSError(f"blocked {address!r}")
    return connect(self, address)
socket.socket.connect = guarded
from omni.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_dir, curated, results, examples):
    """The app on a free loopback port: (url, outputs folder, blocked-connections log)."""
    work = tmp_path_factory.mktemp("app")
    log, blocked, outputs = work / "server.log", work / "blocked.txt", work / "outputs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_")}
    args = [
        sys.executable, "-c", GUARDED, str(blocked), "app", "--model", str(model_dir),
        "--port", "0", "--steps", "2", "--outputs", str(outputs), "--examples", str(examples),
        "--manifest", str(curated / "manifest.parquet"), "--results", str(results),
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
    try:
        url = _wait_for_url(process, log)
        yield url, outputs, blocked
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    assert not blocked.exists(), f"the app tried to reach: {blocked.read_text()}"


def _wait_for_url(process: subprocess.Popen, log: Path, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"running at (http://127\.0\.0\.1:\d+/)", log.read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            pytest.fail(f"omni app exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.5)
    pytest.fail(f"omni app printed no URL in {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, tmp_path):
    """A fresh page; fails the test if it requested anything but loopback, files or data."""
    context = browser.new_context(viewport={"width": 1300, "height": 1800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(120_000)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    yield page
    context.close()
    outside = [
        u for u in requests if not re.match(r"(http://127\.0\.0\.1:\d+/|file://|data:|blob:)", u)
    ]
    assert not outside, f"the page reached outside loopback: {outside[:5]}"


def _video_state(page, selector: str) -> dict:
    page.wait_for_function(
        f"document.querySelector('{selector} video')?.readyState >= 1", timeout=120_000
    )
    return page.evaluate(
        f"""(() => {{ const v = document.querySelector('{selector} video');
        return {{src: v.src, duration: v.duration, width: v.videoWidth, height: v.videoHeight}}; }})()"""
    )


def test_generate_from_uploads_plays_and_downloads(server, page, examples, tmp_path) -> None:
    url, outputs, _ = server
    before = set(outputs.glob("*.mp4"))
    page.goto(url)
    page.wait_for_selector("#omni-generate")
    page.set_input_files("#omni-ref input[type=file]", str(examples / "face.png"))
    page.set_input_files("#omni-audio input[type=file]", str(examples / "speech.wav"))
    page.wait_for_selector("#omni-ref img")
    page.wait_for_selector("#omni-audio [data-testid=waveform-controls], #omni-audio audio",
                           state="attached")  # fmt: skip
    # record every progress text the page shows while generating
    page.evaluate(
        """window.progressSeen = new Set();
        new MutationObserver(() => document.querySelectorAll('.progress-text, .progress-level')
            .forEach(e => window.progressSeen.add(e.innerText)))
            .observe(document.body, {subtree: true, childList: true, characterData: true});"""
    )
    page.click("#omni-generate")
    state = _video_state(page, "#omni-video")
    (written,) = set(outputs.glob("*.mp4")) - before  # exactly one new video
    info = probe(written)
    assert info.num_frames == 15 and info.has_audio  # the 0.6 s of speech at 25 fps
    assert (state["width"], state["height"]) == (info.width, info.height)  # decoded in the page
    assert abs(state["duration"] - 0.6) < 0.05
    progress = " | ".join(page.evaluate("Array.from(window.progressSeen)"))
    assert "segment 1/2" in progress or "segment 2/2" in progress, progress

    status = page.inner_text("#omni-provenance")
    assert written.name in status
    # what omni verify says about the written file (an untrained model draws noise that hides
    # the chroma watermark, so "found" is not expected here; the record is always there)
    expected = provenance_markdown(verify(written)).replace("**", "").replace("- ", "")
    assert [line for line in expected.splitlines() if line in status] == expected.splitlines()
    assert "provenance record: omni" in status and "seed 0" in status

    with page.expect_download() as download:
        page.click("#omni-video [data-testid=download-link]")
    saved = tmp_path / "downloaded.mp4"
    download.value.save_as(saved)
    assert saved.read_bytes() == written.read_bytes()


def test_generate_from_a_picked_example_and_a_microphone_recording(server, browser) -> None:
    url, outputs, _ = server
    before = set(outputs.glob("*.mp4"))
    context = browser.new_context(viewport={"width": 1300, "height": 1800})
    context.grant_permissions(["microphone"])
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(url)
        page.click("button:has(img[src$='/face.png'])")  # pick the example reference
        page.click("#omni-audio button[aria-label='Record audio']")
        page.get_by_role("button", name="Record", exact=True).click()
        page.wait_for_timeout(1500)
        page.locator("#omni-audio button:visible", has_text="Stop").first.click()
        page.wait_for_selector("#omni-audio button[aria-label='Trim audio to selection']")
        page.wait_for_selector("#omni-ref img")
        page.click("#omni-generate")
        state = _video_state(page, "#omni-video")
    finally:
        context.close()
    (written,) = set(outputs.glob("*.mp4")) - before
    assert 0.5 < state["duration"] < 4.0  # as long as the recording
    assert probe(written).has_audio
    assert verify(written).record.conditions["active"] == "text+ref+audio"


def test_generate_without_a_reference_says_what_is_missing(server, page) -> None:
    url, outputs, _ = server
    before = set(outputs.glob("*.mp4"))
    page.goto(url)
    page.click("#omni-generate")
    toast = page.wait_for_selector("[data-testid=toast-body]")
    assert "expected a reference picture" in toast.inner_text()
    assert set(outputs.glob("*.mp4")) == before


def test_curation_tab_filters_plots_and_plays(server, page, curated) -> None:
    url, _, _ = server
    manifest = read_manifest(curated / "manifest.parquet").df
    page.goto(url)
    page.get_by_role("tab", name="Curation").click()
    page.wait_for_selector("#cur-hist img")
    assert page.inner_text("#cur-summary").startswith(f"{len(manifest)} of {len(manifest)} rows")
    _assert_images_loaded(page, "#cur-hist img", 1)
    _assert_images_loaded(page, "#cur-thumbs img", 2)
    assert _grid_rows(page, "#cur-rows") == len(manifest)
    table = page.inner_text("#cur-rows")
    assert all(clip_id in table for clip_id in manifest["clip_id"])

    page.get_by_label("Status").click()
    page.get_by_role("option", name="error").click()
    page.click("#cur-apply")
    page.wait_for_function("document.querySelector('#cur-summary').innerText.startsWith('1 of')")
    page.get_by_label("Status").click()
    page.get_by_role("option", name="ok").click()
    page.click("#cur-apply")
    ok = manifest[manifest["status"] == "ok"]
    page.wait_for_function(
        f"document.querySelector('#cur-summary').innerText.startsWith('{len(ok)} of')"
    )
    page.get_by_label("Play a clip").click()
    page.get_by_role("option", name=ok["clip_id"].iloc[0]).click()
    state = _video_state(page, "#cur-player")
    span = ok["end_s"].iloc[0] - ok["start_s"].iloc[0]
    assert state["width"] == 128 and abs(state["duration"] - span) < 0.1


def test_evaluation_tab_tables_plots_and_pairs(server, page) -> None:
    url, _, _ = server
    page.goto(url)
    page.get_by_role("tab", name="Evaluation").click()
    page.wait_for_selector("#ev-bars img")
    metrics = page.inner_text("#ev-metrics")
    assert "landmark_sync_corr" in metrics and "unavailable" in metrics and "--inception" in metrics
    _assert_images_loaded(page, "#ev-bars img", 1)
    assert _grid_rows(page, "#ev-videos") == 4  # 2 videos x generated, real
    assert "talk_news_b" in page.inner_text("#ev-videos")
    generated, real = _video_state(page, "#ev-generated"), _video_state(page, "#ev-real")
    assert generated["width"] == real["width"] == 128
    assert abs(generated["duration"] - 2.0) < 0.1 and abs(real["duration"] - 2.0) < 0.1


@pytest.mark.parametrize("which", ["curation", "evaluation"])
def test_static_reports_render(page, curated, results, which, tmp_path) -> None:
    report = curated / "report.html" if which == "curation" else results / "report.html"
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    plots = page.locator("img[src^='data:image/png']").count()
    _assert_images_loaded(page, "img", plots)
    assert plots >= (5 if which == "curation" else 2)  # 5 scored columns; bars + sync curve
    rows = page.locator("table tr").count()
    assert rows > (5 if which == "curation" else 8)  # every manifest row; every metric
    shot = tmp_path / f"{which}.png"
    page.screenshot(path=str(shot), full_page=True)
    pixels = np.asarray(_image(shot), dtype=np.float32)
    assert pixels.shape[0] > 600 and pixels.std() > 20  # a page of plots, not a blank one


def _grid_rows(page, selector: str) -> int:
    """Data rows of a Gradio Dataframe (its grid counts the header row too)."""
    return int(page.get_attribute(f"{selector} [role=grid]", "aria-rowcount")) - 1


def _assert_images_loaded(page, selector: str, at_least: int) -> None:
    sizes = page.evaluate(
        f'Array.from(document.querySelectorAll("{selector}")).map(i => [i.complete, i.naturalWidth])'
    )
    assert len(sizes) >= at_least, f"{selector}: {len(sizes)} images, expected {at_least}+"
    assert all(done and width > 0 for done, width in sizes), f"{selector}: broken {sizes}"


def _image(path: Path):
    from PIL import Image

    return Image.open(path).convert("L")
