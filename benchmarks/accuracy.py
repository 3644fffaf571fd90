"""Task success, end to end: did Penny do what was asked? (`penny bench --accuracy`)

Every clip of the accuracy corpus is fed to a fresh VoiceSession at real-time pace, in Penny's default
mode (wake word "Hey Penny" + the phrase engine; addressed requests are spoken "Hey Penny, ..."), while
the session keeps hearing silence, as from a live microphone, until the turn is over. The user is
simulated honestly: when Penny asks "Did you say: X?", the user says "Yes." only if X means what
they said (the same skill and slots, or nearly the same words), else "No."; when Penny asks to confirm a
calendar entry, the user says the corpus' follow-up. Then the outcome is checked in Penny's own state
(scoring.py): the timer exists with the right duration, the event is in the .ics, the note is stored,
the answer states the right hour, date, event or temperature; speech not addressed to Penny gets no reply.
Latency is taken from the true end of the speech in the file, not from Penny's VAD.
"""
from __future__ import annotations

import asyncio
import logging
import re
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import accuracy_corpus as corpus
from benchmarks.accuracy_scoring import Bench, judge_yes, score
from penny.core.events import AudioChunk

log = logging.getLogger("benchmarks.accuracy")
SR, FRAME = 16000, 512  # 32 ms frames, as a microphone delivers them
TURN_TIMEOUT_S = 25.0  # after the end of speech: a reply later than this counts as none
QUIET_S = 1.6  # non-addressed speech: silence fed after it before "no reply" is final
_ASKED = re.compile(r"^Did you say: (?P<words>.+)\?$")


@dataclass
class AskRecord:
    id: str
    task: str
    voice: str
    condition: str
    reference: str
    outcome: str = "no_reply"  # fulfilled | confirmed | asked_repeat | wrong | no_reply | false_accept | ignored
    correct: bool = False  # the task was done (for "open": the answer was right)
    transcript: str = ""
    wer: float | None = None
    replies: list[str] = field(default_factory=list)
    heard: dict = field(default_factory=dict)  # the first turn's understanding (confidence, action, ...)
    voice_to_audio_ms: float | None = None  # true end of speech -> first sound of the first reply
    vad_end_offset_ms: float | None = None  # Penny's end-of-speech estimate minus the true end
    stt_ms: float | None = None
    heard_right: bool | None = None  # the first transcript means what was said (same request, or near words)
    paths: dict = field(default_factory=dict)  # the same speech through Whisper's fast and full paths
    why: str = ""
    error: str | None = None


class Listener:
    """One session fed like a live microphone; every event kept with its arrival time."""

    def __init__(self, engines, session_id: str, speaker):
        self.session = engines.new_session(session_id, mode="wake_word", sink=speaker)
        self.events: list = []
        self.wall: list[float] = []  # wall time at which each fed frame arrived
        self._collector = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for ev in self.session.events():
            self.events.append(ev)

    async def feed(self, audio: np.ndarray) -> float:
        """Feed at real-time pace; returns the stream time where this audio started."""
        loop = asyncio.get_running_loop()
        t0 = len(self.wall) * FRAME / SR
        start = loop.time()
        for i in range(0, len(audio), FRAME):
            delay = start + (i + FRAME) / SR - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.wall.append(time.perf_counter())
            await self.session.feed(AudioChunk(audio[i:i + FRAME], SR))
        return t0

    def wall_at(self, stream_t: float) -> float:
        """When the sample at stream time t was spoken: its frame arrived when complete, (frame end - t) later
        (before 2026-11-30 the frame's arrival: up to 32 ms, 16 on average, rosier)."""
        i = min(int(stream_t * SR) // FRAME, len(self.wall) - 1)
        return self.wall[i] - max(0.0, (i + 1) * FRAME / SR - stream_t)

    async def until_turn(self, since: int, quiet_s: float | None = None) -> list:
        """Keep feeding silence until a turn started after event `since` is over (or quiet_s passes with
        no reply starting, or the timeout). Returns the new events."""
        from penny.core.events import ReplyStarted, TurnTrace

        silence = np.zeros(FRAME * 8, np.float32)
        waited = 0.0
        while waited < TURN_TIMEOUT_S:
            new = self.events[since:]
            if any(isinstance(ev, TurnTrace) for ev in new):
                break
            if quiet_s is not None and waited >= quiet_s and not any(isinstance(ev, ReplyStarted) for ev in new):
                break
            await self.feed(silence)
            waited += len(silence) / SR
        await asyncio.sleep(0.05)
        return self.events[since:]

    async def close(self) -> None:
        await self.session.close()
        await self._collector


async def run_clip(bench: Bench, clip: corpus.Clip) -> AskRecord:
    from penny.core.events import ErrorEvent, ReplyDone, SpeechEnded, Transcript, TurnTrace

    ask = clip.ask
    rec = AskRecord(ask.id, ask.task, clip.voice, clip.condition, corpus.reference_text(ask))
    await bench.reset(ask)
    listener = Listener(bench.engines, f"acc-{ask.id}-{clip.condition}-{uuid.uuid4().hex[:4]}", bench.speaker)
    try:
        t0 = await listener.feed(clip.audio)
        true_end = listener.wall_at(t0 + clip.speech_end_s)
        events = await listener.until_turn(0, quiet_s=QUIET_S if ask.task == "ignore" else None)
        traces = [ev for ev in events if isinstance(ev, TurnTrace)]
        transcripts = [ev for ev in events if isinstance(ev, Transcript) and ev.text]
        if transcripts:
            last = transcripts[-1]
            rec.transcript, rec.stt_ms = last.text, round(last.processing_s * 1000, 1)
            rec.wer = corpus_wer(rec.reference, last.text)
            rec.heard_right = judge_yes(bench, ask, last.text)
        ends = [ev.t for ev in events if isinstance(ev, SpeechEnded)]
        if ends:
            rec.vad_end_offset_ms = round((ends[-1] - (t0 + clip.speech_end_s)) * 1000, 1)
        if traces:
            rec.heard = dict(traces[0].heard)
            first_audio = traces[0].marks.get("first_audio")
            if first_audio is not None:
                rec.voice_to_audio_ms = round((first_audio - true_end) * 1000, 1)
        rec.replies = [ev.text for ev in events if isinstance(ev, ReplyDone)]
        errors = [f"{ev.code}: {ev.message}" for ev in events if isinstance(ev, ErrorEvent)]
        rec.error = "; ".join(errors) or None
        rec.outcome = "ignored" if ask.task == "ignore" and not rec.replies else rec.outcome
        if ask.task != "ignore" and rec.replies:
            await _answer_questions(bench, listener, clip, rec)
    except Exception as exc:  # a crash is a result too: recorded, not hidden
        log.exception("%s (%s, %s) failed", ask.id, clip.voice, clip.condition)
        rec.error = f"{type(exc).__name__}: {exc}"
    finally:
        await listener.close()
    score(bench, ask, rec)
    return rec


async def _answer_questions(bench: Bench, listener: Listener, clip: corpus.Clip, rec: AskRecord) -> None:
    """Reply to Penny's questions as the user would: "Did you say X?" and "Should I add ...?"."""
    from penny.core.events import ReplyDone

    for _ in range(2):  # at most a clarification, then a skill's own confirmation
        last = rec.replies[-1]
        asked = _ASKED.match(last.strip())
        if asked:
            yes = judge_yes(bench, clip.ask, asked.group("words"))
            answer, _ = bench.spoken("Yes." if yes else "No.", clip)
            rec.why += f"asked {asked.group('words')!r} -> {'yes' if yes else 'no'}; "
            if not yes:
                rec.outcome = "asked_repeat"
        elif clip.ask.followup and bench.asks_to_confirm(listener.session.session_id):
            answer = clip.followup_audio
        else:
            return
        since = len(listener.events)
        await listener.feed(answer)
        events = await listener.until_turn(since)
        rec.replies += [ev.text for ev in events if isinstance(ev, ReplyDone)]
        if rec.outcome == "asked_repeat":
            return


def both_paths(bench: Bench, clip: corpus.Clip) -> dict:
    """The clip's speech (what the VAD would cut, give or take) through Penny's short-window decoder and
    through faster-whisper's full 30 s window, same model, beam and prompt: {path: [text, ms]}."""
    stt = bench.engines.stt
    lo, hi = max(0, int((clip.speech_start_s - 0.2) * 16000)), int((clip.speech_end_s + 0.3) * 16000)
    audio = AudioChunk(clip.audio[lo:hi], 16000)
    prompt = bench.engines.assistant.stt_prompt(bench.engines.cfg.stt.initial_prompt)
    out, window = {}, stt.short_window_s
    try:
        for path, short_s in (("fast", window), ("full", 0.0)):
            stt.short_window_s = short_s
            t = stt.transcribe_sync(audio, prompt)
            out[path] = [t.text, round(t.processing_s * 1000, 1)]
    finally:
        stt.short_window_s = window
    return out


def request_words(text: str) -> str:
    """Normalised words of a transcript without the wake phrase (not part of the request)."""
    return re.sub(r"^(?:hey|hi|okay|a) penny ", "", corpus.normalise(text)) or "<nothing>"


def corpus_wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return round(float(jiwer.wer(request_words(reference), request_words(hypothesis))), 4)


async def run(quick: bool = False, cfg=None, conditions: tuple[str, ...] = corpus.CONDITIONS,
              limit: int | None = None, progress=None) -> dict:
    """Build the corpus, run every clip, return {"records": [...], "summary": {...}}."""
    from benchmarks.accuracy_report import summarize

    clips = corpus.build_clips(quick=quick, conditions=conditions, wake_phrase="Hey Penny")
    if limit:
        clips = clips[:limit]
    with tempfile.TemporaryDirectory(prefix="penny-accuracy-") as tmp:
        bench = await Bench.start(cfg, Path(tmp))
        records = []
        try:
            for n, clip in enumerate(clips, 1):
                rec = await run_clip(bench, clip)
                if clip.ask.task != "ignore":
                    rec.paths = await asyncio.to_thread(both_paths, bench, clip)
                records.append(asdict(rec))
                if progress:
                    progress(n, len(clips), rec)
        finally:
            await bench.close()
    return {"records": records, "summary": summarize(records), "clips": len(clips),
            "conditions": list(conditions), "quick": quick}


def main(*, quick: bool = False, out: Path | None = None, config: str | None = None, update_readme: bool = False,
         conditions: tuple[str, ...] = corpus.CONDITIONS, baseline: bool = False, limit: int | None = None) -> Path:
    """`penny bench --accuracy`: run, print, write JSON + PNG (and README's Understanding section)."""
    import os

    from rich.console import Console

    from benchmarks import accuracy_report, report
    from benchmarks.__main__ import RESULTS, ROOT, _load, machine_info
    from penny.config import PennyConfig, load_config

    console = Console(width=120)
    cfg = load_config(config) if config else PennyConfig()
    if baseline:  # Penny before this benchmark: greedy Whisper, no vocabulary, no rescoring, no clarification
        cfg.stt.beam_size = cfg.stt.hypotheses = 1
        cfg.stt.bias_vocabulary = cfg.understanding.enabled = False
    machine = machine_info()
    t0 = time.perf_counter()

    def show(n: int, total: int, rec: AskRecord) -> None:
        mark = "[green]ok[/green]" if rec.correct else f"[red]{rec.outcome}[/red]"
        console.print(f"{n:4d}/{total} {rec.id:18s} {rec.voice:24s} {rec.condition:6s} {mark} "
                      f"heard {rec.transcript!r} -> {(rec.replies or [''])[0][:70]!r}", highlight=False)

    data = asyncio.run(run(quick=quick, cfg=cfg, conditions=conditions, limit=limit, progress=show))
    duration = time.perf_counter() - t0
    machine["load_after"] = _load()
    summary = data["summary"]
    stem = f"{machine['date']}-{machine['host']}-accuracy{'-quick' if quick else ''}{'-baseline' if baseline else ''}"
    json_path = (Path(out) if out else RESULTS) / f"{stem}.json"
    report.write_json(json_path, {"schema": 1, "machine": machine, "baseline": baseline, "duration_s": round(duration),
                                  **data})
    png = json_path.with_suffix(".png")
    accuracy_report.write_chart(png, summary, f"Penny task success{' (baseline)' if baseline else ''} — "
                                              f"{data['clips']} clips")
    for table in accuracy_report.tables(summary):
        console.print(table)
    console.print(f"took {duration / 60:.1f} min; wrote {json_path} and {png}")
    if update_readme:
        rel = lambda p: os.path.relpath(p, ROOT)  # noqa: E731
        report.update_readme(ROOT / "README.md", accuracy_report.readme_section(
            summary, machine, rel(png), rel(json_path), data["clips"], duration))
    return json_path
