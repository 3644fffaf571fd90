"""The browser path, measured: the corpus fed through the WebSocket protocol of a running `penny serve`.

`penny bench` runs this after its in-process corpus run has finished and closed its engines, so the two never
share the CPU. A real `penny serve` subprocess is started on a free loopback port with the benchmark's
isolated temporary config (its own history, TTS cache and PENNY_HOME: nothing of the user's is read or
written). Each clip then gets its own WebSocket (one connection = one VoiceSession, as one in-process turn
gets a fresh session) and is sent exactly as the browser client sends its microphone
(static/mic-worklet.js + audio.js encodeMicFrame): 16 kHz mono int16 in 20 ms frames of 320 samples, a
12-byte header with rate 16000 and a sequence number, one frame every 20 ms of wall time; after the clip,
silence keeps streaming (an open mic) until the turn's `turn.trace` arrives.

Voice→first audio from the true end of speech, as the client sees it:
    first_audio_ms = arrival of the turn's first reply audio frame - T_end
    T_end = the wall time the clip's true last speech sample was "spoken": the send time of the frame that
            holds it, minus the part of that frame that comes after it (the in-process run maps stream time
            to wall time the same way, see VoiceSession._wall), so both figures use one definition.
The in-process figure of the same run is `ms.first_audio + vad_end_offset_ms` of its streaming turns
(report.stage_value "first_audio_true_end"). Both sides' clocks are time.perf_counter (CLOCK_MONOTONIC, one
clock for every process on the machine), so the server's own stage times (`stage` messages) split the
client's figure into the server pipeline and the transport: `inbound_ms` (the true end sample sent → the
server's wall time for it), `server_first_audio_ms` (the server's first_audio mark, from the true end) and
`outbound_ms` (that mark → the frame's arrival at the client).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.ws_server import Server, warm_llm

log = logging.getLogger("benchmarks.ws_path")

RATE = 16000  # what the page sends (mic-worklet.js OUT_RATE)
FRAME = 320  # 20 ms at 16 kHz (mic-worklet.js FRAME)
FRAME_S = FRAME / RATE
HEADER = 12
KIND_MIC, KIND_REPLY = 1, 2
TURN_TIMEOUT_S = 60.0  # after the clip: how long to wait for the turn's trace


@dataclass
class WSTurn:
    request_id: str
    kind: str  # the corpus' intent: "local" or "llm"
    speech_s: float
    path: str = "failed"  # what answered: "local" (a skill), "llm", or "failed"
    transcript: str = ""
    reply: str = ""
    intent: str | None = None
    end_rule: str | None = None
    turn_id: str | None = None
    ms: dict = field(default_factory=dict)  # the server's turn.trace: ms since its end of speech
    vad_end_offset_ms: float | None = None  # the server endpointer's end of speech minus the true one
    first_audio_ms: float | None = None  # client: the reply's first audio frame's arrival - true end of speech
    first_sound_ms: float | None = None  # client: the turn's first audio frame, a filler ("One moment.") incl.
    server_first_audio_ms: float | None = None  # server: its first_audio mark - true end (ms.first_audio + offset)
    inbound_ms: float | None = None  # true end sample sent -> the server's wall time of that sample
    outbound_ms: float | None = None  # server's first_audio mark -> the frame's arrival at the client
    end_sent_ms: float | None = None  # the frame holding the true end was sent this long after T_end
    max_send_late_ms: float = 0.0  # the latest a microphone frame left after its real-time slot
    audio_frames: int = 0
    reply_audio_s: float = 0.0
    repeat_reply: bool = False  # this reply was spoken earlier in the pass: the server's TTS cache may hold it
    turns: int = 0
    error: str | None = None
    warmup: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- wire format (as static/audio.js)


def encode_mic_frame(pcm: np.ndarray, seq: int, rate: int = RATE) -> bytes:
    """audio.js encodeMicFrame: kind 1, version 1, reserved 0, rate, sequence number, int16 LE samples."""
    import struct

    return struct.pack("<BBHII", KIND_MIC, 1, 0, rate, seq & 0xFFFFFFFF) + pcm.astype("<i2").tobytes()


def to_int16(audio: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] -> int16 the way the worklet does (v * 32768 below zero, v * 32767 above)."""
    x = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
    return np.where(x < 0, x * 32768.0, x * 32767.0).astype(np.int16)


def true_end_wall(sent_at: float, frame_index: int, speech_end_s: float) -> float:
    """The wall time the sample at `speech_end_s` was spoken, given the send time of the frame that holds
    it: that frame was complete (and left) (frame_end - speech_end) after its last speech sample."""
    frame_end_s = (frame_index + 1) * FRAME_S
    return sent_at - (frame_end_s - speech_end_s)


# ---------------------------------------------------------------- one clip over one WebSocket


class _Turns:
    """What the client saw of each turn, by turn id (perf_counter times)."""

    def __init__(self) -> None:
        self.streams: dict[int, str] = {}  # reply audio stream id -> turn id
        self.arrivals: dict[str, list[float]] = {}  # each reply audio frame's arrival, by turn
        self.frames: dict[str, int] = {}
        self.audio_s: dict[str, float] = {}
        self.stage: dict[tuple[str, str, str], float] = {}  # (turn, stage, phase) -> server perf_counter t
        self.traces: list[dict] = []
        self.replies: dict[str, str] = {}
        self.transcripts: list[str] = []
        self.speech_end_t: list[float] = []  # speech.end `t`: seconds of session audio
        self.errors: list[str] = []
        self.started = 0  # reply.start messages

    def on_text(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "audio.start":
            self.streams[int(msg["stream"])] = msg["turn_id"]
        elif kind == "stage":
            if isinstance(msg.get("t"), (int, float)):
                self.stage.setdefault((msg.get("turn_id"), msg.get("stage"), msg.get("phase")), float(msg["t"]))
        elif kind == "turn.trace":
            self.traces.append(msg)
        elif kind == "reply.start":
            self.started += 1
        elif kind == "reply.done":
            self.replies[msg["turn_id"]] = msg.get("text", "")
        elif kind == "transcript":
            if msg.get("text"):
                self.transcripts.append(msg["text"])
        elif kind == "speech.end":
            self.speech_end_t.append(float(msg["t"]))
        elif kind == "error":
            self.errors.append(f"{msg.get('code')}: {msg.get('message')}")

    def on_audio(self, data: bytes, at: float) -> None:
        if len(data) < HEADER or data[0] != KIND_REPLY:
            return
        rate = int.from_bytes(data[4:8], "little")
        stream = int.from_bytes(data[8:12], "little")
        turn = self.streams.get(stream)
        if turn is None:
            return
        self.arrivals.setdefault(turn, []).append(at)
        self.frames[turn] = self.frames.get(turn, 0) + 1
        self.audio_s[turn] = self.audio_s.get(turn, 0.0) + (len(data) - HEADER) / 2 / max(1, rate)


async def run_clip(url: str, clip, *, warmup: bool = False, mode: str = "always_listening",
                   turn_timeout_s: float = TURN_TIMEOUT_S, tail_s: float = 1.1, connect=None) -> WSTurn:
    """One clip through one WebSocket at real-time pace; the turn's figures from the client's side.

    After the clip, at least `tail_s` of silence follows (as run_turns pads the in-process clip), then
    silence until every reply that started has its turn.trace (or `turn_timeout_s`)."""
    import websockets

    req = clip.request
    rec = WSTurn(req.id, req.kind, round(clip.speech_s, 3), warmup=warmup)
    seen = _Turns()
    pcm = to_int16(clip.audio)
    end_frame = min(int(clip.speech_end_s * RATE) // FRAME, (len(pcm) - 1) // FRAME)
    connect = connect or websockets.connect
    try:
        async with connect(url, subprotocols=["penny.v1"], max_size=None, compression=None) as ws:
            await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "penny-bench/1", "mode": mode}))
            while True:  # the session is open once the server says hello
                m = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(m, str) and json.loads(m).get("type") == "hello":
                    break

            async def receive() -> None:
                async for m in ws:
                    at = time.perf_counter()
                    if isinstance(m, bytes):
                        seen.on_audio(m, at)
                    else:
                        seen.on_text(json.loads(m))

            receiver = asyncio.create_task(receive())
            t_end_wall = sent_end = None
            try:
                loop = asyncio.get_running_loop()
                start = loop.time()
                silence = np.zeros(FRAME, np.int16)
                seq = 0
                deadline = None
                while True:
                    i = seq
                    if i * FRAME < len(pcm):
                        piece = pcm[i * FRAME:(i + 1) * FRAME]
                        if len(piece) < FRAME:
                            piece = np.concatenate([piece, silence[:FRAME - len(piece)]])
                    else:  # the open microphone goes on: silence until every started reply is traced
                        if deadline is None:
                            deadline = time.perf_counter() + turn_timeout_s
                        tail_done = (i * FRAME - len(pcm)) / RATE >= tail_s
                        if (tail_done and seen.traces and seen.started <= len(seen.traces)) or \
                                time.perf_counter() > deadline or receiver.done():
                            break
                        piece = silence
                    slot = start + (i + 1) * FRAME_S  # a frame leaves once its 20 ms have been captured
                    delay = slot - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    rec.max_send_late_ms = max(rec.max_send_late_ms, round((loop.time() - slot) * 1000.0, 1))
                    await ws.send(encode_mic_frame(piece, seq))
                    if i == end_frame:
                        sent_end = time.perf_counter()
                        t_end_wall = true_end_wall(sent_end, end_frame, clip.speech_end_s)
                    seq += 1
            finally:
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await receiver
    except Exception as exc:  # a failure is a result too
        log.exception("%s over the WebSocket failed", req.id)
        rec.error = f"{type(exc).__name__}: {exc}"
        return rec
    return finish(rec, seen, t_end_wall, sent_end, clip.speech_end_s)


def finish(rec: WSTurn, seen: _Turns, t_end_wall: float | None, sent_end: float | None,
           speech_end_s: float) -> WSTurn:
    """The figures of the clip's turn (the last traced one, as in-process: a split request's answer)."""
    rec.turns = len(seen.traces)
    if seen.transcripts:
        rec.transcript = seen.transcripts[-1]
    if not seen.traces:
        rec.error = "; ".join(seen.errors) or "no turn.trace: no speech detected, or the turn failed"
        return rec
    trace = seen.traces[-1]
    turn = rec.turn_id = trace.get("turn_id")
    rec.ms = dict(trace.get("ms") or {})
    rec.intent = trace.get("intent")
    rec.end_rule = trace.get("end_rule")
    rec.reply = seen.replies.get(turn, "")
    rec.audio_frames = seen.frames.get(turn, 0)
    rec.reply_audio_s = round(seen.audio_s.get(turn, 0.0), 3)
    if seen.speech_end_t:
        rec.vad_end_offset_ms = round((seen.speech_end_t[-1] - speech_end_s) * 1000.0, 1)
    fa = rec.ms.get("first_audio")
    if fa is not None and rec.vad_end_offset_ms is not None:
        rec.server_first_audio_ms = round(fa + rec.vad_end_offset_ms, 1)
    arrivals = seen.arrivals.get(turn, [])
    # The server's stage times are perf_counter too (CLOCK_MONOTONIC: one clock across processes). Its
    # first_audio mark is set just before the reply's first chunk goes out, and not by a filler, so the
    # reply's first frame is the first to arrive after it; without the mark, the first frame.
    t_fa = seen.stage.get((turn, "tts", "first"))
    reply_frames = [t for t in arrivals if t_fa is None or t >= t_fa]
    first = reply_frames[0] if reply_frames else None
    if t_end_wall is not None:
        rec.end_sent_ms = round((sent_end - t_end_wall) * 1000.0, 1)
        if first is not None:
            rec.first_audio_ms = round((first - t_end_wall) * 1000.0, 1)
        if arrivals:
            rec.first_sound_ms = round((arrivals[0] - t_end_wall) * 1000.0, 1)
        if t_fa is not None and fa is not None:
            server_speech_end = t_fa - fa / 1000.0  # the server's wall time of its end of speech
            if rec.vad_end_offset_ms is not None:
                rec.inbound_ms = round((server_speech_end - rec.vad_end_offset_ms / 1000.0 - t_end_wall) * 1000.0, 1)
            if first is not None:
                rec.outbound_ms = round((first - t_fa) * 1000.0, 1)
    if seen.errors:
        rec.error = "; ".join(seen.errors)
    elif trace.get("interrupted"):
        rec.error = "turn was interrupted"
    elif rec.first_audio_ms is None:
        rec.error = "no reply audio"
    rec.path = "failed" if rec.error or not rec.ms else ("local" if rec.intent else "llm")
    if (trace.get("backends") or {}).get("llm") == "unavailable":
        rec.path = "failed"
    return rec


# ---------------------------------------------------------------- the pass


async def run_pass(cfg, clips: list, tmp: Path, *, on_turn=None, console=None, warmup_clip=None) -> dict:
    """Start `penny serve`, warm it up (one LLM request, one voice turn of `warmup_clip`, default the first
    clip: not counted), then every clip once over its own WebSocket. Returns {"records": [...], "server": {...}}.

    The server's TTS cache cannot be reset between turns as the in-process run resets its own, so a reply
    already spoken in the pass (the warm-up's included) is marked `repeat_reply` and left out of the comparison."""
    import psutil

    server = Server(cfg, tmp)
    say = console.print if console is not None else (lambda *_: None)
    say("starting penny serve for the WebSocket pass…")
    records: list[dict] = []
    info: dict = {"frame": {"rate": RATE, "samples": FRAME, "ms": FRAME_S * 1000, "format": "s16le"},
                  "load_before": _load()}  # the two passes run one after the other: other work can hit one only
    try:
        await server.start()
        info.update(port=server.port, startup_s=server.startup_s, health=getattr(server, "health", None))
        say(f"penny serve ready in {server.startup_s:.1f}s on port {server.port}")
        info["llm_first_request"] = await warm_llm(server.base)
        tail_s = cfg.vad.end_silence_ms / 1000.0 + 0.4  # as run_turns pads an in-process clip
        warm = await run_clip(server.ws_url, warmup_clip or clips[0], warmup=True, tail_s=tail_s)
        records.append(warm.to_dict())
        say(f"warm-up turn over the WebSocket (not counted): voice→first audio {warm.first_audio_ms} ms")
        spoken: set[str] = {warm.reply.strip().lower()} if warm.reply else set()
        cpu0, wall0 = server.cpu_s(), time.perf_counter()
        me = psutil.Process()
        own0 = sum(me.cpu_times()[:2])
        for clip in clips:
            rec = await run_clip(server.ws_url, clip, tail_s=tail_s)
            rec.repeat_reply = bool(rec.reply) and rec.reply.strip().lower() in spoken
            if rec.reply:
                spoken.add(rec.reply.strip().lower())
            records.append(rec.to_dict())
            if on_turn is not None:
                on_turn(rec)
        wall = time.perf_counter() - wall0
        cpu1 = server.cpu_s()
        info["cpu"] = {"seconds": round(wall, 1),
                       "server_share_of_one_core": round((cpu1 - cpu0) / wall, 3) if None not in (cpu0, cpu1) else None,
                       "client_share_of_one_core": round((sum(me.cpu_times()[:2]) - own0) / wall, 3)}
    except Exception as exc:
        log.exception("WebSocket pass failed")
        info["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        server.stop()
        info["load_after"] = _load()
    return {"records": records, "server": info}


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# ---------------------------------------------------------------- figures


def summarize(ws_records: list[dict], inproc_records: list[dict]) -> dict:
    """WebSocket vs in-process voice→first audio from the true end of speech, same run: p50/p90 of each,
    the gap of the medians, and the request-by-request differences.

    Compared: turns both paths answered by the same path (skill / LLM), the in-process ones in streaming
    mode (what the server runs); WebSocket turns whose reply was spoken earlier in the pass (a possible TTS
    cache hit the in-process run never gets: it resets its cache before each turn) are left out."""
    from benchmarks.report import percentile, stage_value

    ws = {r["request_id"]: r for r in ws_records if not r.get("warmup")}
    inproc = {r["request_id"]: r for r in inproc_records
              if not r.get("warmup") and r.get("mode") == "streaming" and r.get("path") != "failed"}
    pairs = []
    for rid, w in ws.items():
        i = inproc.get(rid)
        if i is None or w["path"] == "failed" or w["path"] != i["path"] or w.get("repeat_reply"):
            continue
        a, b = stage_value(i, "first_audio_true_end"), w.get("first_audio_ms")
        if a is None or b is None:
            continue
        snd, off = i.get("first_sound_ms"), i.get("vad_end_offset_ms")
        pairs.append({"request_id": rid, "path": w["path"], "in_process_ms": a, "websocket_ms": b,
                      "websocket_server_ms": w.get("server_first_audio_ms"), "inbound_ms": w.get("inbound_ms"),
                      "outbound_ms": w.get("outbound_ms"), "gap_ms": round(b - a, 1),
                      "in_process_first_sound_ms": None if snd is None or off is None else round(snd + off, 1),
                      "websocket_first_sound_ms": w.get("first_sound_ms")})

    def st(values) -> dict:
        vals = [float(v) for v in values if v is not None]
        if not vals:
            return {"n": 0, "median": None, "p90": None}
        return {"n": len(vals), "median": round(percentile(vals, 50), 1), "p90": round(percentile(vals, 90), 1)}

    out = {
        "in_process": st(p["in_process_ms"] for p in pairs),
        "websocket": st(p["websocket_ms"] for p in pairs),
        "websocket_server_side": st(p["websocket_server_ms"] for p in pairs),
        "inbound": st(p["inbound_ms"] for p in pairs),
        "outbound": st(p["outbound_ms"] for p in pairs),
        "gap_pairwise": st(p["gap_ms"] for p in pairs),
        "in_process_first_sound": st(p["in_process_first_sound_ms"] for p in pairs),
        "websocket_first_sound": st(p["websocket_first_sound_ms"] for p in pairs),
        "by_path": {path: {"n": len(ps), "in_process": st(p["in_process_ms"] for p in ps),
                           "websocket": st(p["websocket_ms"] for p in ps)}
                    for path in ("local", "llm") if (ps := [p for p in pairs if p["path"] == path])},
        "pairs": pairs,
        "failed": [r["request_id"] for r in ws.values() if r["path"] == "failed"],
        "repeat_reply": [r["request_id"] for r in ws.values() if r.get("repeat_reply")],
        "turns": len(ws),
    }
    a, b = out["in_process"], out["websocket"]
    out["gap_of_medians_ms"] = round(b["median"] - a["median"], 1) if a["n"] and b["n"] else None
    out["gap_of_p90_ms"] = round(b["p90"] - a["p90"], 1) if a["n"] and b["n"] else None
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.ws_path [--quick] [--config FILE] [--out JSON]`: only the WebSocket pass (for
    looking into the server path; `penny bench` runs it beside the in-process run)."""
    import argparse
    import tempfile

    from rich.console import Console

    from benchmarks import corpus, e2e
    from penny.config import PennyConfig, load_config

    p = argparse.ArgumentParser(prog="python -m benchmarks.ws_path", description=main.__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--config", default=None)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console()
    cfg = load_config(a.config) if a.config else PennyConfig()
    clips = corpus.load(corpus.select(a.quick))

    def show(rec: WSTurn) -> None:
        console.print(f"  {rec.request_id:8} {rec.path:6} client {rec.first_audio_ms} ms, server "
                      f"{rec.server_first_audio_ms} ms (in {rec.inbound_ms}, out {rec.outbound_ms}; vad "
                      f"{rec.vad_end_offset_ms}; late {rec.max_send_late_ms}) {rec.transcript!r:.40} {rec.error or ''}")

    with tempfile.TemporaryDirectory(prefix="penny-bench-ws-") as tmp:
        cfg = e2e.isolated_config(cfg, Path(tmp) / "ws")
        data = asyncio.run(run_pass(cfg, clips, Path(tmp) / "ws", on_turn=show, console=console))
    console.print(data["server"])
    if a.out:
        a.out.write_text(json.dumps(data, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
