"""End-to-end voice turns through the real pipeline, streaming and sequential, at real-time pace.

Each corpus clip is fed to a fresh VoiceSession the way a microphone would deliver it (32 ms frames,
paced by the clock), once in Penny's streaming mode and once in the seed-like sequential mode; the
order alternates request by request so drift (thermal, other load) does not favour one mode.
Everything is read back from the turn's TurnTrace; a stage that did not happen stays missing.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.corpus import SR, Clip

log = logging.getLogger("benchmarks.e2e")

MODES = ("streaming", "sequential")


class SimulatedSpeaker:
    """A sink that plays like a speaker with a queue: audio starts when written (or when the previous
    chunk ends) and lasts its duration. It never blocks, so the turn is timed as with a real device,
    and it records when the first sound would be heard and when the reply would finish playing."""

    echo_cancelled = False  # as before the property existed: barge-in over it needs a confident voice

    def __init__(self) -> None:
        self.first_write: float | None = None
        self._until = 0.0
        self.drained_until: float | None = None
        self.audio_s = 0.0

    async def write(self, chunk) -> None:
        now = time.perf_counter()
        if self.first_write is None:
            self.first_write = now
        self._until = max(now, self._until) + chunk.duration_s
        self.audio_s += chunk.duration_s

    async def drain(self) -> None:
        self.drained_until = self._until

    async def stop(self) -> None:
        self._until = min(self._until, time.perf_counter())

    async def close(self) -> None:
        pass


@dataclass
class TurnRecord:
    request_id: str
    kind: str  # the corpus' intent: "local" or "llm"
    mode: str  # "streaming" or "sequential"
    voice: str
    snr_db: float | None
    speech_s: float
    path: str = "failed"  # what actually answered: "local" (a skill), "llm", or "failed"
    transcript: str = ""
    reply: str = ""
    intent: str | None = None
    end_rule: str | None = None  # what ended the turn (the trace's end_rule: "semantic", "silence", ...)
    backends: dict = field(default_factory=dict)
    ms: dict = field(default_factory=dict)  # trace marks, ms since the pipeline's end of speech
    vad_end_offset_ms: float | None = None  # the endpointer's end of speech minus the true one
    first_sound_ms: float | None = None  # first audio written to the speaker, a filler included
    played_end_ms: float | None = None  # when the reply would finish playing on the speaker
    reply_audio_s: float = 0.0
    stt_processing_s: float | None = None
    stt_audio_s: float | None = None
    tts_cache: dict = field(default_factory=dict)  # this turn's TTS cache hits/misses (filler included)
    rss_mb: float | None = None  # this process' resident memory after the turn (to spot growth)
    turns: int = 0  # turns the clip caused (1 expected)
    interrupted: bool = False
    error: str | None = None
    warmup: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class TTSCacheReset:
    """Puts the TTS phrase cache back to its start-up state (the pre-warmed phrases) before each turn.

    Without this, whichever mode runs a request second would get the first one's reply from the cache
    (a hit costs ~0 ms against ~100+ ms of synthesis), which would bias the streaming/sequential pairs.
    Only the benchmark's own temporary cache folder is ever touched."""

    def __init__(self, tts, allowed_root: Path):
        self.tts = tts
        disk = getattr(tts, "disk", None)
        self.disk_dir = Path(disk.dir) if disk is not None and hasattr(disk, "dir") else None
        if self.disk_dir is not None and allowed_root not in self.disk_dir.resolve().parents:
            self.disk_dir = None  # not ours: never delete anything there
        memory = getattr(tts, "_memory", None)
        self.supported = memory is not None
        self.memory0 = set(memory.keys()) if memory is not None else set()
        self.disk0 = self._disk_files()

    def _disk_files(self) -> set[Path]:
        return set(self.disk_dir.rglob("*.pcm")) if self.disk_dir is not None and self.disk_dir.is_dir() else set()

    def reset(self) -> None:
        memory = getattr(self.tts, "_memory", None)
        if memory is not None:
            for key in [k for k in memory if k not in self.memory0]:
                del memory[key]
        for path in self._disk_files() - self.disk0:
            path.unlink(missing_ok=True)

    def counters(self) -> dict:
        return dict(getattr(self.tts, "stats", None) or {})


def _classify(rec: TurnRecord) -> str:
    if rec.error or not rec.ms:
        return "failed"
    if rec.backends.get("llm") == "unavailable":
        return "failed"
    if rec.intent:
        return "local"
    return "llm"


async def run_clip(engines, clip: Clip, mode: str, *, warmup: bool = False,
                   cache: TTSCacheReset | None = None) -> TurnRecord:
    from penny.core.events import ErrorEvent, SpeechEnded, Transcript
    from penny.app.run_file import run_turns

    req = clip.request
    rec = TurnRecord(req.id, req.kind, mode, req.voice, req.snr_db, round(clip.speech_s, 3), warmup=warmup)
    speaker = SimulatedSpeaker()
    if cache is not None:
        cache.reset()
    before = cache.counters() if cache is not None else {}
    all_events: list = []
    try:
        results = await run_turns(engines, clip.audio, sink=speaker, realtime=True,
                                  streaming=(mode == "streaming"), mode="always_listening", all_events=all_events)
    except Exception as exc:  # a crash is a result too: recorded, not hidden
        log.exception("%s (%s) failed", req.id, mode)
        rec.error = f"{type(exc).__name__}: {exc}"
        return rec
    finally:
        if cache is not None:
            after = cache.counters()
            rec.tts_cache = {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], int)}
    rec.turns = len(results)
    if not results:
        rec.error = "no turn trace: no speech detected, or the turn failed (see the log)"
        return rec
    # The clip holds one request: if the endpointer split it, the last turn is the one answered.
    res = results[-1]
    trace = res.trace
    rec.transcript, rec.reply, rec.interrupted = res.transcript, res.reply, res.interrupted
    rec.reply_audio_s = round(res.audio_s, 3)
    if trace is not None:
        rec.ms = trace.since("speech_end")
        rec.intent = trace.intent
        rec.end_rule = getattr(trace, "end_rule", None)
        rec.backends = dict(trace.backends)
        t0 = trace.marks.get("speech_end")
        if t0 is not None and speaker.first_write is not None:
            rec.first_sound_ms = round((speaker.first_write - t0) * 1000.0, 1)
        if t0 is not None and speaker.drained_until is not None:
            rec.played_end_ms = round((speaker.drained_until - t0) * 1000.0, 1)
    # The endpointer's end of speech: the last SpeechEnded of the clip (with a speculative turn it can
    # arrive after the turn's trace, so it is looked up among all the session's events).
    ends = [ev.t for ev in all_events if isinstance(ev, SpeechEnded)]
    if ends:
        rec.vad_end_offset_ms = round((ends[-1] - clip.speech_end_s) * 1000.0, 1)
    errors = []
    for ev in res.events:
        if isinstance(ev, ErrorEvent):
            errors.append(f"{ev.code}: {ev.message}")
        elif isinstance(ev, Transcript):
            rec.stt_processing_s = round(ev.processing_s, 4)
            rec.stt_audio_s = round(ev.audio_s, 3)
    if errors:
        rec.error = "; ".join(errors)
    elif rec.interrupted:
        rec.error = "turn was interrupted"
    rec.path = _classify(rec)
    return rec


def schedule(n: int) -> list[tuple[int, str]]:
    """(clip index, mode) in run order: two passes over the corpus, the modes alternating by clip and
    swapped in the second pass. The two runs of one request are a whole pass apart (so the LLM
    server's prompt cache from the first does not speed up the second), and each mode runs as often
    early as late."""
    first = [(i, MODES[i % 2]) for i in range(n)]
    second = [(i, MODES[(i + 1) % 2]) for i in range(n)]
    return first + second


async def run_corpus(engines, clips: list[Clip], *, on_turn=None, cache: TTSCacheReset | None = None
                     ) -> list[TurnRecord]:
    """Every clip in both modes, in `schedule` order."""
    records: list[TurnRecord] = []
    for i, mode in schedule(len(clips)):
        rec = await run_clip(engines, clips[i], mode, cache=cache)
        rec.rss_mb = _own_rss_mb()
        records.append(rec)
        if on_turn is not None:
            on_turn(rec)
    return records


async def first_llm_request(engines, max_tokens: int = 8) -> dict:
    """The first LLM request after start-up, timed: it is slower than later ones (the server's first
    completion), so it runs before the measured turns and is reported on its own."""
    from penny.core.events import TextDelta

    messages = engines.assistant.messages("benchmark-warmup", "Say hello.")
    t0 = time.perf_counter()
    first, pieces = None, 0
    try:
        async for ev in engines.llm.stream(messages, max_tokens=max_tokens):
            if isinstance(ev, TextDelta) and ev.text:
                pieces += 1
                first = first if first is not None else time.perf_counter() - t0
    except Exception as exc:
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return {"ttft_ms": round(first * 1000, 1) if first is not None else None,
            "total_ms": round((time.perf_counter() - t0) * 1000, 1), "chunks": pieces, "max_tokens": max_tokens}


# ---------------------------------------------------------------- process figures


def process_rss_mb() -> dict:
    """Resident memory of this process and its children (the llama.cpp server), in MB.

    RSS counts shared pages once per process, so the total slightly overstates unique memory."""
    import psutil

    me = psutil.Process()
    own = me.memory_info().rss
    kids = []
    for child in me.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline()[:4])
            name = "llama.cpp server" if "llama" in cmd else child.name()
            kids.append({"pid": child.pid, "name": name, "cmd": cmd[:120],
                         "rss_mb": round(child.memory_info().rss / 2**20, 1)})
        except psutil.Error:
            continue
    total = own / 2**20 + sum(k["rss_mb"] for k in kids)
    return {"self_mb": round(own / 2**20, 1), "children": kids, "total_mb": round(total, 1)}


def _own_rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _cpu_s(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def idle_listening_cpu(engines, seconds: float) -> dict:
    """CPU share of a wake-word session fed a quiet room (-60 dBFS noise) at real-time pace."""
    import psutil

    from penny.core.events import AudioChunk

    session = engines.new_session(mode="wake_word")
    wake = type(session.wake).__name__ if session.wake is not None else None
    rng = np.random.default_rng(7)
    frame = SR * 32 // 1000
    n = int(seconds * SR / frame)
    frames = [(rng.normal(0, 0.001, frame)).astype(np.float32) for _ in range(n)]
    drain = asyncio.create_task(_drain(session))
    me = psutil.Process()
    kids = me.children(recursive=True)
    # Let anything still running from an earlier turn settle first.
    await asyncio.sleep(0.5)
    c0, w0 = _cpu_s(me), time.perf_counter()
    kid0 = sum(_safe_cpu(k) for k in kids)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, f in enumerate(frames):
        delay = start + (i + 1) * 0.032 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await session.feed(AudioChunk(f, SR))
    wall = time.perf_counter() - w0
    cpu = _cpu_s(me) - c0
    kid_cpu = sum(_safe_cpu(k) for k in kids) - kid0
    await session.close()
    await drain
    cores = os.cpu_count() or 1
    return {
        "seconds": round(wall, 2),
        "wake_engine": wake,
        "wake_config": engines.cfg.wake.engine,
        "process_cpu_s": round(cpu, 3),
        "share_of_one_core": round(cpu / wall, 4),
        "share_of_machine": round(cpu / wall / cores, 4),
        "children_share_of_one_core": round(kid_cpu / wall, 4),
        "note": "whole Penny process while a wake-word session hears a quiet room (VAD + wake engine, "
                "plus background threads); children = the LLM server",
    }


def _safe_cpu(proc) -> float:
    try:
        return _cpu_s(proc)
    except Exception:
        return 0.0


async def _drain(session) -> None:
    async for _ in session.events():
        pass


def isolated_config(cfg, tmp: Path):
    """A copy of `cfg` whose history, skill data and TTS cache live in `tmp` (the user's stay untouched).

    A calendar with no sources gets a small local .ics with events today and tomorrow, so calendar
    requests exercise the real calendar path rather than "no calendar configured"."""
    cfg = cfg.model_copy(deep=True)
    tmp.mkdir(parents=True, exist_ok=True)
    cfg.memory.path = str(tmp / "penny.db")
    cfg.tts.cache.dir = str(tmp / "tts-cache")
    if cfg.plugins.calendar.enabled and not cfg.plugins.calendar.sources:
        ics = tmp / "calendar.ics"
        ics.write_text(_calendar_ics(), encoding="utf-8")
        cfg.plugins.calendar.sources = [str(ics)]
        cfg.plugins.calendar.write_to = str(ics)
    return cfg


def _calendar_ics() -> str:
    from datetime import date, timedelta

    today = date.today()
    events = [
        (today, "100000", "103000", "Team stand-up"),
        (today, "150000", "160000", "Dentist"),
        (today + timedelta(days=1), "090000", "100000", "Project review"),
        (today + timedelta(days=1), "123000", "133000", "Lunch with Sam"),
    ]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//penny//benchmark//EN"]
    for i, (day, start, end, summary) in enumerate(events):
        d = day.strftime("%Y%m%d")
        lines += ["BEGIN:VEVENT", f"UID:bench-{i}@penny", f"DTSTAMP:{d}T000000Z", f"DTSTART:{d}T{start}",
                  f"DTEND:{d}T{end}", f"SUMMARY:{summary}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
