"""asr: `transcribe` + audio -> `transcript`, with Penny's own recognition (not a bare Whisper call).

The same path a voice turn takes: the short-window decoder for commands, the vocabulary prompt (skill
words, calendar titles, note words) plus the names Home Assistant sends with the request, and beam
rescoring toward a reading that parses as a request.
"""
from __future__ import annotations

import logging

import numpy as np
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop

from penny.core.events import AudioChunk
from penny.core.pcm import RATE

log = logging.getLogger(__name__)
MAX_NAMES_CHARS = 200  # Whisper's prompt is short: Home Assistant's names get this much of it


def prompt_with_names(base: str | None, request: Transcribe | None) -> str | None:
    """Penny's prompt, then the entity/area names Home Assistant asks to bias toward (newest protocol)."""
    if request is None:
        return base
    names: list[str] = []
    for name in [*(request.transcript_names or []), *(request.transcript_terms or [])]:
        name = str(name).strip().rstrip(".")
        if name and sum(len(n) + 2 for n in names) + len(name) <= MAX_NAMES_CHARS:
            names.append(name)
    if not names:
        return base
    return " ".join(p for p in (base, ", ".join(names) + ".") if p)


async def transcribe(engines, audio: np.ndarray, request: Transcribe | None, write) -> str:
    """Transcribe 16 kHz mono `audio`; sends transcript-start/-chunk/-stop (one chunk per Whisper segment,
    for clients that stream) and then the plain `transcript` every client reads. Returns the text."""
    assistant = engines.assistant
    if request is not None and request.language and engines.cfg.stt.language and \
            request.language.split("-")[0].split("_")[0] != engines.cfg.stt.language:
        log.info("wyoming asr: asked for language %r; this Penny recognises %r", request.language,
                 engines.cfg.stt.language)
    prompt = prompt_with_names(assistant.stt_prompt(engines.cfg.stt.initial_prompt), request)
    chunk = AudioChunk(audio, RATE)
    result = await assistant.best_reading(await engines.stt.transcribe(chunk, initial_prompt=prompt), chunk,
                                          engines.stt)  # a reading that parses beats a best that does not
    text = result.text.strip()
    language = result.language or engines.cfg.stt.language
    context = request.context if request is not None else None
    await write(TranscriptStart(language=language, context=context).event())
    pieces = [s.text.strip() for s in result.segments if s.text.strip()] if result.text == " ".join(
        s.text for s in result.segments).strip() else [text]  # rescored: the chosen reading, whole
    for i, piece in enumerate(p for p in pieces if p):
        await write(TranscriptChunk(text=(" " if i else "") + piece).event())
    await write(TranscriptStop().event())
    await write(Transcript(text=text, language=language, context=context).event())
    log.info("wyoming asr: %.1f s of audio -> %r (%.0f ms)", len(audio) / RATE, text,
             (result.processing_s or 0) * 1000)
    return text
