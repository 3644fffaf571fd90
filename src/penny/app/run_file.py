"""One full voice turn from a file to a file: the entry point of tests, benchmarks and `penny run-file`."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from penny.core.events import AudioChunk, ReplyAudio, ReplyDone, Transcript, TurnTrace
from penny.core.pcm import RATE as SR


@dataclass
class TurnResult:
    transcript: str = ""
    reply: str = ""
    interrupted: bool = False
    trace: TurnTrace | None = None
    audio_s: float = 0.0
    events: list = field(default_factory=list)


def _split(audio: np.ndarray, frame: int):
    for i in range(0, len(audio), frame):
        yield audio[i:i + frame]


async def feed_audio(session, audio: np.ndarray, *, realtime: bool, frame_ms: int = 32) -> None:
    """Feed 16 kHz float32 audio to a session as a microphone would (paced when realtime)."""
    frame = SR * frame_ms // 1000
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, piece in enumerate(_split(audio, frame)):
        if realtime:
            delay = start + (i + 1) * frame_ms / 1000.0 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await session.feed(AudioChunk(piece, SR))
        if not realtime:
            await session.wait_idle()  # faster than real time: take turns, don't barge in


async def run_turns(engines, audio: np.ndarray, *, sink=None, realtime: bool = False, streaming: bool = True,
                    mode: str = "always_listening", tail_s: float | None = None,
                    all_events: list | None = None) -> list[TurnResult]:
    """Feed one recording (one or more utterances) and collect every turn it caused.

    `all_events`, when given, receives every event in order, also those of utterances Penny did not answer.
    """
    session = engines.new_session(mode=mode, sink=sink, streaming=streaming)
    results: list[TurnResult] = []
    current = TurnResult()

    async def collect():
        nonlocal current
        async for ev in session.events():
            current.events.append(ev)
            if all_events is not None:
                all_events.append(ev)
            if isinstance(ev, Transcript) and ev.text:
                current.transcript = ev.text
            elif isinstance(ev, ReplyAudio):
                current.audio_s += ev.audio.duration_s
            elif isinstance(ev, ReplyDone):
                current.reply, current.interrupted = ev.text, ev.interrupted
            elif isinstance(ev, TurnTrace):
                current.trace = ev
                results.append(current)
                current = TurnResult()

    collector = asyncio.create_task(collect())
    tail = tail_s if tail_s is not None else engines.cfg.vad.end_silence_ms / 1000.0 + 0.4
    padded = np.concatenate([audio.astype(np.float32), np.zeros(int(tail * SR), np.float32)])
    await feed_audio(session, padded, realtime=realtime)
    await session.end_of_input()
    await session.wait_idle()
    await session.close()
    await collector
    return results


async def run_file(engines, question: Path, out: Path | None = None, *, realtime: bool = False,
                   streaming: bool = True, mode: str = "always_listening") -> list[TurnResult]:
    from penny.adapters.audio.wavfile import read_audio

    audio = read_audio(question)
    sink = None
    if out is not None:
        from penny.adapters.audio.sinks import WavFileSink

        sink = WavFileSink(out, sample_rate=getattr(engines.tts, "sample_rate", 22050))
    try:
        return await run_turns(engines, audio.as_float32(), sink=sink, realtime=realtime, streaming=streaming,
                               mode=mode)
    finally:
        if sink is not None:
            await sink.close()
