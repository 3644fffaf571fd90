"""Penny drives Wyoming satellites: many rooms on one machine (issue 14, parts 2 and 3).

The satellites are simulated on the real `wyoming` AsyncTcpServer (penny/wyoming/simulated.py): they stream
Piper speech at real-time pace and keep the TTS audio they are sent (written to WAVs). Penny is the real
Engines (Whisper tiny.en, Piper, the skills) with the real LLM chain in front of a scripted fake server.
Waits have generous limits; no assert is on a duration.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
import wave
from datetime import datetime, timezone

import pytest
import pytest_asyncio

from fixtures_llm import FakeLLMServer, real_turn_config
from fixtures_speech import load, synth_piper
from penny.app.fair import FIRST, LATER, FairGate
from penny.config import PennyConfig, SatelliteConfig
from penny.plugins.base import ManualClock
from penny.wyoming.satellites import Satellites
from penny.wyoming.simulated import SimSatellite

STORY = ("Once upon a time a small dragon lived in a quiet valley. Every morning it watched the sun rise over "
         "the green hills. It liked to count the clouds and give each one a name. One day a traveller came by "
         "with an old map and a basket of apples. The dragon followed him over seven rivers and three mountains "
         "until they reached the sea, where the waves sang all night long.")


async def until(cond, what: str, limit_s: float = 90.0) -> None:
    """Wait for `cond()` (a generous limit: the machine is shared); fail naming what never happened."""
    end = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


def words(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


def speech(text: str):
    return load(synth_piper(text))


def fast(links) -> None:
    """Test-sized reconnect and ping timings (the defaults are Home Assistant's seconds)."""
    for link in links:
        link.backoff_s, link.ping_after_s, link.answer_timeout_s = (0.2, 0.5), 0.3, 1.0


# ---------------------------------------------------------------- scheduling (no models)

async def test_fair_gate_serves_first_audio_work_before_later_sentences():
    gate, order = FairGate("tts"), []
    await gate.acquire()  # a long answer is being spoken

    async def work(name, priority):
        async with gate.hold(priority):
            order.append(name)

    later = asyncio.create_task(work("story, sentence 5", LATER))
    await asyncio.sleep(0)
    first = asyncio.create_task(work("kitchen, first sentence", FIRST))
    gone = asyncio.create_task(work("a dropped speculation", FIRST))
    await asyncio.sleep(0)
    gone.cancel()  # a waiter that leaves gives up its place
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(later, first)
    assert order == ["kitchen, first sentence", "story, sentence 5"]
    assert gate.stats["waited"] == 2 and gate._busy == 0


async def test_a_long_wait_for_the_llm_says_once_to_give_it_its_own_server(monkeypatch, caplog):
    from penny.app import fair

    monkeypatch.setattr(fair, "SLOW_WAIT_S", 0.05)
    gate = FairGate("llm")
    await gate.acquire()  # one room's answer holds the model
    with caplog.at_level("WARNING", logger="penny.app.fair"):
        for _ in range(2):
            waiter = asyncio.create_task(gate.acquire())
            await asyncio.sleep(0.1)
            gate.release()
            await waiter
    advice = [r.getMessage() for r in caplog.records if "own server" in r.getMessage()]
    assert len(advice) == 1 and "llm.fallbacks" in advice[0]  # said once, with the key to set


async def test_an_alert_is_said_in_the_session_that_set_it_then_everywhere_once_it_closed(tmp_path):
    from fixtures_llm import RecordingLLM
    from fixtures_skills import alert_engines
    from penny.core.events import Alert, ReplyDone

    engines, clock = alert_engines(tmp_path, RecordingLLM())
    kitchen, bedroom = engines.new_session("satellite-kitchen"), engines.new_session("satellite-bedroom")
    seen = {s.session_id: [] for s in (kitchen, bedroom)}

    async def collect(s):
        async for e in s.events():
            seen[s.session_id].append(e)

    pumps = [asyncio.create_task(collect(s)) for s in (kitchen, bedroom)]
    try:
        for text in ("set a timer for two minutes", "set a timer for five minutes"):
            await kitchen.ask(text)
            await until(lambda: sum(isinstance(e, ReplyDone) for e in seen[kitchen.session_id]) >= 1, "the reply")
            await kitchen.wait_idle()
            if text.startswith("set a timer for two"):
                assert '"session": "satellite-kitchen"' in (tmp_path / "timers.json").read_text()
        await clock.advance(minutes=2, seconds=1)
        await until(lambda: any(isinstance(e, Alert) for e in seen[kitchen.session_id]), "the kitchen's alert")
        await asyncio.sleep(0.2)
        assert not any(isinstance(e, Alert) for e in seen[bedroom.session_id])  # not the other room's
        await kitchen.close()  # the room that set the second timer is gone: everyone hears it
        await clock.advance(minutes=3)
        await until(lambda: any(isinstance(e, Alert) for e in seen[bedroom.session_id]), "the broadcast alert")
    finally:
        for p in pumps:
            p.cancel()
        await asyncio.wait_for(engines.aclose(), 10)


def test_the_page_lists_satellites_through_penny_serve(tmp_path, monkeypatch):
    """`penny serve`'s lifespan starts the satellites; /api/satellites lists each with its state."""
    from fastapi.testclient import TestClient

    from fixtures_server import BASE, FakeEngines
    from penny.server.app import create_app

    monkeypatch.setenv("PENNY_HOME", str(tmp_path / "home"))
    cfg = PennyConfig.model_validate({"satellites": [{"uri": "tcp://127.0.0.1:9", "name": "attic"}]})
    with TestClient(create_app(cfg, FakeEngines(cfg)), base_url=BASE) as client:
        sats = client.get("/api/satellites").json()["satellites"]
        page = client.get("/").text
    assert [(s["name"], s["session_id"]) for s in sats] == [("attic", "satellite-attic")]
    assert sats[0]["state"] in ("connecting", "reconnecting")  # nothing listens on port 9
    assert 'src="/static/satellites.js"' in page


# ---------------------------------------------------------------- real voice, two rooms

@pytest.fixture(scope="module")
def llm_server():
    server = FakeLLMServer("ok", STORY).start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def penny(tmp_path_factory, llm_server):
    """One Penny (the real Engines) for every room: models loaded once, shared by all sessions."""
    from penny.app.engines import Engines

    tmp = tmp_path_factory.mktemp("satellites")
    cfg = real_turn_config(tmp, llm_server.base_url, "wake_word")
    clock = ManualClock(datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PENNY_HOME", str(tmp / "home"))
        engines = await Engines.load(cfg, data_dir=tmp / "data", clock=clock)
        engines.test_clock = clock
        yield engines
        await engines.aclose()


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_two_rooms_talk_at_once_with_barge_in_and_a_timer_said_in_its_own_room(penny, llm_server, tmp_path):
    kitchen = await SimSatellite("kitchen", wake="satellite").start()  # its own wake word
    bedroom = await SimSatellite("bedroom", wake="penny").start()  # streams all the time; Penny hears "Hey Penny"
    sats = Satellites(penny, [SatelliteConfig(uri=kitchen.uri, name="kitchen"),
                              SatelliteConfig(uri=bedroom.uri, name="bedroom")]).start()
    fast(sats.links)
    try:
        await until(lambda: kitchen.ready.is_set() and bedroom.ready.is_set(), "both satellites connected")
        assert {s["state"] for s in sats.status()} == {"connected"}

        # Both rooms speak at the same time.
        await asyncio.gather(kitchen.say(speech("What time is it?")),
                             bedroom.say(speech("Hey Penny, set a timer for two seconds.")))
        await until(lambda: kitchen.streams and kitchen.streams[0].stopped, "the kitchen's answer")
        await until(lambda: bedroom.streams and bedroom.streams[0].stopped, "the bedroom's answer")
        assert "time" in words(kitchen.transcripts[0]) and "timer" in words(bedroom.transcripts[0])
        assert kitchen.streams[0].seconds > 0.5 and bedroom.streams[0].seconds > 0.5
        for t in ("run-satellite", "voice-started", "voice-stopped", "transcript", "synthesize", "audio-start",
                  "audio-chunk", "audio-stop"):
            assert t in kitchen.types(), t
        assert "detection" in bedroom.types()  # Penny's wake word, told to the satellite as Home Assistant does
        assert "detection" not in kitchen.types()  # the kitchen woke itself: nothing to tell it

        # The timer fires: said in the bedroom only.
        before = len(kitchen.streams)
        await penny.test_clock.advance(seconds=3)
        await until(lambda: "timer-finished" in bedroom.types(), "the bedroom's timer-finished")
        await until(lambda: len(bedroom.streams) >= 2 and bedroom.streams[1].stopped, "the timer said in the bedroom")
        assert "timer-finished" not in kitchen.types() and len(kitchen.streams) == before

        # A long story in the bedroom; the kitchen asks meanwhile and is answered; the bedroom cuts in.
        llm_server.delay = 0.12
        n = len(bedroom.streams)
        await bedroom.say(speech("Hey Penny, tell me a story about a dragon."))
        await until(lambda: len(bedroom.streams) > n and bedroom.streams[n].seconds > 1.0, "the story playing")
        k = len(kitchen.streams)
        await kitchen.say(speech("What time is it?"))
        await until(lambda: len(kitchen.streams) > k and kitchen.streams[k].stopped, "the kitchen answered")
        assert bedroom.streams[n].stopped is None  # the story was still being told meanwhile
        await bedroom.say(speech("Hey Penny, what time is it?"))  # barge-in: speech during the reply
        await until(lambda: bedroom.streams[n].stopped is not None, "the story cut")
        await until(lambda: len(bedroom.streams) > n + 1 and bedroom.streams[n + 1].stopped, "the next answer")
        assert "time" in words(bedroom.transcripts[-1])
        # Each command is heard on its own (a quick end of turn does not glue it to the next one).
        assert [words(t).count("time") for t in kitchen.transcripts] == [1, 1]
        story = [t for t in penny.memory.turns("satellite-bedroom") if "dragon" in words(t.user_text)]
        assert story and story[-1].interrupted
        # Paced audio: the satellite got only what it could play before the cut, not the whole story.
        assert bedroom.streams[n].seconds < 0.6 * len(STORY.split()) / 2.5
        assert not any(t.interrupted for t in penny.memory.turns("satellite-kitchen"))

        for sat in (kitchen, bedroom):
            path = sat.write_wav(tmp_path / f"{sat.name}.wav")
            with wave.open(str(path)) as w:
                assert w.getnframes() / w.getframerate() > 1.0  # two answers at least
    finally:
        llm_server.delay = 0.0
        await sats.stop()
        await kitchen.stop()
        await bedroom.stop()


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_a_silent_or_dropped_satellite_is_logged_and_reconnected_while_others_go_on(penny, caplog):
    caplog.set_level(logging.INFO, logger="penny.wyoming")
    steady = await SimSatellite("steady").start()
    mute = await SimSatellite("mute", silent=True).start()  # accepts the connection, never answers
    flaky = await SimSatellite("flaky").start()
    sats = Satellites(penny, [SatelliteConfig(uri=s.uri, name=s.name) for s in (steady, mute, flaky)]).start()
    fast(sats.links)
    try:
        await until(lambda: steady.ready.is_set() and flaky.ready.is_set(), "steady and flaky connected")
        await until(lambda: sats.get("mute").reconnects >= 1, "the silent satellite dropped")
        assert any("satellite mute" in r.getMessage() and "no answer to a ping" in r.getMessage()
                   for r in caplog.records)

        # The flaky one hangs up in the middle of a command, while the steady one is being answered.
        talking = asyncio.create_task(steady.say(speech("What time is it?")))
        cut = asyncio.create_task(flaky.say(speech("Set a timer for ten minutes.")))
        await until(lambda: sats.get("flaky").voice.streaming, "the flaky satellite streaming")
        await flaky.drop()
        cut.cancel()
        await talking
        await until(lambda: steady.streams and steady.streams[-1].stopped, "the steady room answered")
        assert "time" in words(steady.transcripts[-1])
        await until(lambda: any("satellite flaky" in r.getMessage() and "reconnecting" in r.getMessage()
                                for r in caplog.records), "a log line for the drop")

        # It comes back (same session id) and is answered again.
        await until(lambda: flaky.ready.is_set() and sats.get("flaky").state == "connected", "flaky back")
        assert sats.get("flaky").session_id == "satellite-flaky"
        await flaky.say(speech("What time is it?"))
        await until(lambda: flaky.streams and flaky.streams[-1].stopped, "the flaky room answered after it came back")
        assert "time" in words(flaky.transcripts[-1])
        assert sats.get("steady").reconnects == 0
    finally:
        await sats.stop()
        for s in (steady, mute, flaky):
            await s.stop()
