"""The WebSocket protocol against the real voice loop: `penny serve`'s app (Engines.load in its lifespan) with
the real VoiceSession, Whisper tiny.en and Piper. The LLM is the real chain (FallbackLLM, OpenAI-compatible
client) in front of a scripted fake server whose pace the tests set: fast for a whole answer, slow to talk
over. A spoken question as PCM frames; barge-in by voice and by `interrupt`; the next turn after each."""
from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from fixtures_llm import FakeLLMServer, real_turn_config
from fixtures_server import BASE, WS, hello, mic_frames, until
from fixtures_speech import load, silence, synth_piper
from penny.server.app import create_app

pytestmark = pytest.mark.slow

STORY = ("Once upon a time a small dragon lived in a quiet valley. Every morning it watched the sun rise over "
         "the green hills. It liked to count the clouds and give each one a name. One day a traveller came by "
         "with an old map and a basket of apples.")
ASK_STORY = "Tell me a story about a dragon."
ASK_TIME = "What time is it?"  # the clock skill answers: quick, and no LLM


@pytest.fixture(scope="module")
def llm_server():
    server = FakeLLMServer("ok", STORY).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(tmp_path_factory, llm_server):
    tmp = tmp_path_factory.mktemp("ws-real")
    cfg = real_turn_config(tmp, llm_server.base_url, "always_listening")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PENNY_HOME", str(tmp / "home"))
        with TestClient(create_app(cfg), base_url=BASE) as c:  # lifespan: Engines.load(cfg)
            yield c


def say(ws, text: str) -> None:
    """`text` spoken by Piper, sent as 20 ms microphone frames, with the silence that ends the turn."""
    for frame in mic_frames(np.concatenate([silence(0.3), load(synth_piper(text)), silence(1.2)])):
        ws.send_bytes(frame)


def words(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


def frames_of(seen: list, stream: int) -> list:
    return [m for m in seen if isinstance(m, tuple) and m[4] == stream]


def types(seen: list) -> list[str]:
    return [m["type"] for m in seen if isinstance(m, dict)]


def story_is_streaming(ws, llm_server) -> tuple[dict, dict]:
    """Ask for the story at a pace that lasts seconds; back once its first sentence is being spoken."""
    llm_server.delay = 0.15  # ~45 words: 7 s of writing
    say(ws, ASK_STORY)
    start, _ = until(ws, "reply.start")
    audio, seen = until(ws, "audio.start")
    assert "dragon" in words(start["user_text"]) and "reply.done" not in types(seen)
    return start, audio


def next_turn_answers(ws, cut: dict, rest: list) -> None:
    """The cut turn ends marked interrupted, without another frame of its audio; the next turn is answered
    in full, on a new stream. `rest`: what came after `interrupted`."""
    done, seen = until(ws, "reply.done")
    rest += seen
    if done["turn_id"] == cut["turn_id"]:
        assert done["interrupted"] is True
        done, seen = until(ws, "reply.done")
        rest += seen
    start = next(m for m in rest if isinstance(m, dict) and m["type"] == "reply.start")
    audio = next(m for m in rest if isinstance(m, dict) and m["type"] == "audio.start")
    assert done["turn_id"] == start["turn_id"] == audio["turn_id"] != cut["turn_id"]
    assert "time" in words(start["user_text"]) and done["text"] and done["interrupted"] is False
    assert len(frames_of(rest, audio["stream"])) > 0 and "audio.end" in types(rest)
    old = {m["stream"] for m in rest if isinstance(m, dict) and m.get("turn_id") == cut["turn_id"] and "stream" in m}
    assert not old and not [m for m in rest if isinstance(m, tuple) and m[4] != audio["stream"]]


def test_spoken_question_gets_transcript_reply_audio_and_done_then_is_cut_while_playing(client, llm_server):
    llm_server.delay = 0.0
    with client.websocket_connect(WS, subprotocols=["penny.v1"]) as ws:
        hello(ws, mode="always_listening")
        say(ws, ASK_STORY)
        transcript, seen = until(ws, "transcript")
        assert "dragon" in words(transcript["text"]) and "speech.start" in types(seen)
        start, before = until(ws, "reply.start")
        audio, seen = until(ws, "audio.start")
        assert "reply.delta" in types(seen)
        before += seen
        done, seen = until(ws, "reply.done")
        # the endpointer's end of speech: after the transcript when the turn model ended the turn first
        assert "speech.end" in types(before + seen)
        trace, _ = until(ws, "turn.trace")
        # All of it is sent, but it plays for seconds yet: speaking now still cuts it (no audio.stop: it ended).
        say(ws, ASK_TIME)
        cut, later = until(ws, "interrupted")
        assert cut["turn_id"] == start["turn_id"] and "audio.stop" not in types(later)
        next_turn_answers(ws, cut, [])
    rate = client.app.state.penny.engines.tts.sample_rate
    assert audio["sample_rate"] == rate and audio["turn_id"] == start["turn_id"] == done["turn_id"]
    assert done["text"] == STORY and done["interrupted"] is False
    assert sum(len(f[5]) for f in frames_of(seen, audio["stream"])) > 5 * rate  # the story, spoken
    assert types(seen)[-2:] == ["audio.end", "reply.done"] and "interrupted" not in types(seen)
    assert trace["backends"]["llm"] == "openai_compatible:fake-model"  # from the turn's own events
    assert {"transcript", "first_token", "first_audio"} <= set(trace["ms"]) and trace["interrupted"] is False


def test_speaking_over_the_reply_interrupts_it(client, llm_server):
    with client.websocket_connect(WS, subprotocols=["penny.v1"]) as ws:
        hello(ws, mode="always_listening")
        first, audio = story_is_streaming(ws, llm_server)
        say(ws, ASK_TIME)
        cut, seen = until(ws, "interrupted")
        assert cut["turn_id"] == first["turn_id"]
        # 96 ms of voice stops the reply (vad.barge_in_ms), before the utterance is confirmed (speech.start)
        assert types(seen)[-2:] == ["audio.stop", "interrupted"]
        stop = next(m for m in seen if isinstance(m, dict) and m["type"] == "audio.stop")
        assert stop == {"type": "audio.stop", "stream": audio["stream"], "turn_id": first["turn_id"]}
        next_turn_answers(ws, cut, [])


def test_interrupt_message_cuts_the_reply_and_a_typed_turn_follows(client, llm_server):
    with client.websocket_connect(WS, subprotocols=["penny.v1"]) as ws:
        sid = hello(ws, mode="always_listening")["session_id"]
        first, audio = story_is_streaming(ws, llm_server)
        ws.send_json({"type": "interrupt"})
        cut, seen = until(ws, "interrupted")
        assert cut["turn_id"] == first["turn_id"] and types(seen)[-2:] == ["audio.stop", "interrupted"]
        done, rest = until(ws, "reply.done")
        trace, more = until(ws, "turn.trace")
        assert done["turn_id"] == trace["turn_id"] == first["turn_id"]
        assert done["interrupted"] is True and trace["interrupted"] is True
        assert STORY.startswith(done["text"]) and done["text"] != STORY
        ws.send_json({"type": "text", "text": ASK_TIME})
        next_turn_answers(ws, cut, rest + more)
    turns = client.get("/api/history", params={"session_id": sid}).json()["turns"]
    assert [(t["turn_id"], t["interrupted"]) for t in turns][:1] == [(first["turn_id"], True)]
