"""The page in a real browser: headless Debian Chromium driven by Playwright against `python app.py` on loopback.

Upload the 5-minute synthetic story, analyse it, see the verdict, the feature
panels and the timeline, switch the variant; record from Chromium's fake
microphone and get a verdict. Set DECEPTIO_SCREENSHOT=assets/screenshot.png to
refresh the README's screenshot.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
import soundfile as sf
import soxr

from bad_inputs import running_app
from conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
LONG_STORY = REPO / "assets" / "synthetic_long_story_female.ogg"
MIC_SOURCE = REPO / "assets" / "synthetic_statement_female.ogg"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VERDICT_TIMEOUT_MS = 300_000  # a 5-minute story takes seconds; this is for two very busy CPU cores

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python app.py` on a free loopback port, stopped after the module's tests."""
    with running_app(tmp_path_factory.mktemp("app")) as app:
        yield app.url


@contextmanager
def _page(url: str, *extra_args: str, permissions: tuple[str, ...] = ()):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS + list(extra_args))
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=list(permissions))
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.locator("#analyze").wait_for()
            yield page
        finally:
            browser.close()


def _wait_for_plots(page) -> None:
    """Both figures are on the page as loaded images, the features with their four base panels listed."""
    for elem_id in ("timeline", "features"):
        page.wait_for_function(
            "id => { const img = document.querySelector(`#${id} img`); return img && img.complete && img.naturalWidth > 600; }",
            arg=elem_id, timeout=VERDICT_TIMEOUT_MS,
        )
    panels = page.locator("#panels").inner_text()
    for name in ("Spectrogram", "MFCC", "LSF", "F0"):
        assert name in panels, panels


def _wait_for_verdict(page, pattern: str = r"Verdict: (truthful|deceptive|inconclusive)") -> str:
    """Wait until the verdict matches ``pattern``; fail at once if the page shows an error instead."""
    page.wait_for_function(
        """pattern => {
            const verdict = document.querySelector('#verdict');
            return (verdict && new RegExp(pattern).test(verdict.innerText))
                || document.querySelector('[data-testid="toast-body"]') !== null;
        }""",
        arg=pattern, timeout=VERDICT_TIMEOUT_MS,
    )
    toast = page.locator('[data-testid="toast-body"]')
    if toast.count():
        pytest.fail(f"the page showed an error instead of a verdict: {toast.first.inner_text()}")
    return page.locator("#verdict").inner_text()


def _analyze(page) -> tuple[str, float, float]:
    """Click Analyze and wait for the verdict and the plots: (verdict text, recording seconds, click-to-verdict seconds)."""
    started = time.perf_counter()
    page.locator("#analyze").click()
    verdict = _wait_for_verdict(page)
    elapsed = time.perf_counter() - started
    _wait_for_plots(page)
    return verdict, float(re.search(r"([\d.]+) s recording", verdict).group(1)), elapsed


def _image_source(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} img").first.get_attribute("src") or ""


def test_upload_analyze_see_features_and_timeline_then_switch_variant(server, capsys):
    from playwright.sync_api import expect

    with _page(server) as page:
        # A person's mistake comes back as a message on the page, not a traceback.
        page.locator("#analyze").click()
        toast = page.locator('[data-testid="toast-body"]')
        expect(toast).to_contain_text("no recording was given", timeout=30_000)
        assert "Traceback" not in toast.inner_text()
        page.locator('[data-testid="toast-close"]').first.click()
        expect(toast).to_have_count(0)

        page.locator("#audio input[type=file]").set_input_files(str(LONG_STORY))
        expect(page.locator("#audio audio, #audio [data-testid='waveform-Recording'] canvas, #audio .waveform-container").first
               ).to_be_attached(timeout=60_000)
        verdict, seconds, elapsed = _analyze(page)
        assert "with ensemble" in verdict and abs(seconds - sf.info(LONG_STORY).duration) < 0.5
        probability = page.locator("#probability").inner_text()
        assert "deceptive" in probability and "truthful" in probability and "%" in probability
        card = page.locator("#card").inner_text()
        assert "ROC AUC" in card and "gender from pitch" in card and "majority label" in card and "never proof" in card
        # The "what this model can and cannot tell" panel, read from the card.
        assert "What this model can and cannot tell" in card
        assert "among women without S3" in card and "lawyers and judges" in card
        with capsys.disabled():
            print(f"\n[browser] click to verdict on the {sf.info(LONG_STORY).duration:.0f} s synthetic story "
                  f"(ensemble): {elapsed:.1f} s")

        features_before = _image_source(page, "features")
        page.locator("#variant input").click()
        page.get_by_role("option", name="lsf_lpc", exact=True).click()
        expect(page.locator("#variant-description")).to_contain_text("Line spectral frequencies")
        _wait_for_verdict(page, r"Verdict: [\s\S]*with lsf_lpc")
        _wait_for_plots(page)
        expect(page.locator("#panels")).to_contain_text("LPC coefficients")
        assert "Spectral contrast" not in page.locator("#panels").inner_text()
        assert _image_source(page, "features") != features_before


def test_record_from_the_microphone_and_get_a_verdict(server, tmp_path, capsys):
    from playwright.sync_api import expect

    # Chromium's fake microphone plays a 16-bit WAV file in a loop.
    samples, rate = sf.read(MIC_SOURCE, always_2d=True)
    fake = tmp_path / "fake_microphone.wav"
    sf.write(fake, soxr.resample(samples.mean(axis=1), rate, 48000), 48000, subtype="PCM_16")
    flags = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={fake}")
    with _page(server, *flags, permissions=("microphone",)) as page:
        audio = page.locator("#audio")
        audio.get_by_role("button", name="Record audio").click()
        audio.get_by_role("button", name="Record", exact=True).click()
        page.wait_for_timeout(8_000)
        # Stopping turns the take into a file and uploads it; Analyze must wait for that upload.
        with page.expect_response(lambda r: urlparse(r.url).path.endswith("/upload") and r.request.method == "POST", timeout=60_000) as upload:
            audio.get_by_role("button", name="Stop", exact=True).filter(visible=True).first.click()
        assert upload.value.ok
        expect(audio.get_by_role("button", name="Record", exact=True)).to_have_count(0, timeout=30_000)
        page.wait_for_timeout(1_000)
        verdict, seconds, elapsed = _analyze(page)
        assert 5.0 <= seconds <= 12.0  # what was recorded, not an example file
        with capsys.disabled():
            print(f"\n[browser] click to verdict on a {seconds:.1f} s microphone recording: {elapsed:.1f} s")
        screenshot = Path(os.environ.get("DECEPTIO_SCREENSHOT", tmp_path / "screenshot.png"))
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 50_000
