"""The real thing: `penny serve` with the real engines, Debian Chromium with a synthesized WAV as its
microphone, and the page doing a full voice turn. Screenshots go to test-artifacts/."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
SAID = "Tell me a fun fact about the moon."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`penny serve` on the built-in defaults (embedded models), in a clean home and working dir."""
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENNY_")}
    env.update(PENNY_HOME=str(home), PYTHONUNBUFFERED="1")
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "penny", "serve", "--port", str(port)], cwd=home, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240
    text = ""
    while time.time() < deadline:
        text = (home / "serve.log").read_text(errors="replace")
        if "Penny is ready" in text:
            break
        if proc.poll() is not None:
            pytest.fail(f"penny serve exited early:\n{text[-3000:]}")
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"penny serve did not get ready in time:\n{text[-3000:]}")
    assert url in text  # the URL is printed
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory) -> Path:
    """What the fake microphone says: a pause, the sentence, then silence so the turn ends."""
    import soundfile

    try:
        from fixtures_speech import synth_piper
    except ImportError:  # pragma: no cover
        pytest.skip("tests/fixtures_speech.py is missing")
    from penny.adapters.audio.wavfile import read_audio

    speech = read_audio(synth_piper(SAID)).samples
    audio = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(3 * 16000, np.float32)])
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    soundfile.write(str(path), audio, 16000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(mic_wav):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic_wav}%noloop", "--autoplay-policy=no-user-gesture-required",
            "--disable-background-networking", "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


def wait_js(page, expression: str, timeout: int) -> None:
    """Poll a JS expression (page.wait_for_function uses eval, which the page's CSP rightly forbids)."""
    deadline = time.time() + timeout / 1000
    while time.time() < deadline:
        if page.evaluate(expression):
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {expression}; events: {page.evaluate('window.penny && penny.events')}")


def words(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


def test_voice_turn_in_the_browser(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, permissions=["microphone"])
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server)
    wait_js(page, "window.penny && window.penny.connected", 30_000)
    page.get_by_label("Open mic").check()
    wait_js(page, "window.penny.events.filter(t => t === 'hello').length >= 2", 10_000)
    assert page.locator('input[value="always_listening"]').is_checked()

    page.get_by_role("button", name="Start microphone").click()  # the fake microphone starts speaking
    wait_js(page, "window.penny.transcripts.length > 0", 90_000)
    heard = page.evaluate("window.penny.transcripts")
    assert any("moon" in words(t) for t in heard), heard
    assert "moon" in words(page.locator(".msg.user").first.inner_text())
    # what getUserMedia granted, read back from the track: Chromium cancels its own speaker's echo
    assert page.locator("#aec-chip").is_visible() and page.locator("#aec").inner_text() == "on (browser)"

    wait_js(page, "window.penny.replies.length > 0", 150_000)
    reply = page.evaluate("window.penny.replies[0]")
    assert reply.strip(), "an empty reply"
    assert page.evaluate("window.penny.events.filter(t => t === 'reply.delta').length") >= 1
    assert page.locator(".msg.penny .text").first.inner_text().strip()

    wait_js(page, "window.penny.traces.length > 0", 30_000)
    stats = page.evaluate("({frames: penny.audioFrames, seconds: penny.audioSeconds, played: penny.playedBuffers,"
                          " mic: penny.micFrames})")
    assert stats["mic"] > 50, stats  # the worklet streamed the microphone
    assert stats["frames"] > 0 and stats["seconds"] > 0.3 and stats["played"] > 0, stats
    rows = page.locator("#waterfall .wf-row")
    assert rows.count() >= 3
    assert "Speech to text" in page.locator("#waterfall").inner_text()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "browser-voice-turn.png"), full_page=True)

    # Same page on a phone-sized screen, and the typed path.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_label("Message to Penny").fill("What time is it?")
    page.keyboard.press("Enter")
    wait_js(page, "window.penny.replies.length > 1", 90_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "browser-phone.png"))  # what the phone shows

    # Barge-in: while Penny is speaking, Stop silences the page at once and the reply ends interrupted.
    page.get_by_label("Message to Penny").fill("Tell me a long story about a brave little dragon.")
    page.keyboard.press("Enter")
    wait_js(page, "window.penny.playing", 150_000)
    page.get_by_role("button", name="Stop", exact=True).click()
    assert page.evaluate("window.penny.playing") is False
    wait_js(page, "window.penny.replies.length > 2", 30_000)
    assert page.locator(".msg.penny.interrupted").count() >= 1
    assert not [p for p in problems if "favicon" not in p], problems
    ctx.close()


def test_page_offline_and_push_to_talk(server, browser):
    ctx = browser.new_context(viewport={"width": 900, "height": 700})
    page = ctx.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(server.rstrip("/").rsplit(":", 1)[0])
            and not r.url.startswith("data:") else None)
    page.goto(server)
    wait_js(page, "window.penny && window.penny.connected", 30_000)
    page.get_by_label("Push to talk").check()
    ptt = page.get_by_role("button", name="Hold to talk")
    ptt.wait_for(state="visible")
    wait_js(page, "document.querySelector('#health-text').textContent !== 'checking…'", 60_000)
    assert page.locator("#model-select option").count() >= 1
    assert external == [], external  # nothing from a CDN: works offline

    # Hold to talk: the fake microphone starts with the capture; release once it has spoken.
    box = ptt.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    wait_js(page, "window.penny.micFrames > 0", 10_000)
    page.wait_for_timeout(5000)
    page.mouse.up()
    wait_js(page, "window.penny.transcripts.length > 0", 60_000)
    assert "moon" in words(page.evaluate("window.penny.transcripts[0]"))
    ctx.close()
