"""faster-whisper STT. The whole call — including iterating its lazy segments — runs in a worker
thread, so the event loop (barge-in, the web server) never blocks on decoding.

Hallucination guard: near-silent audio is never decoded; segments Whisper itself marks as
no-speech are dropped; the stock phrases Whisper invents on silence or noise ("Thank you.",
"Thanks for watching!") are dropped when the audio is quiet or likely not speech.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time

import numpy as np

from penny.adapters.stt.short_window import cut_repeat, score_texts, transcribe_short, trustworthy
from penny.core.events import AudioChunk, Hypothesis, Segment, Transcript
from penny.core.pcm import RATE, to_16k_mono
from penny.errors import STTFailed

log = logging.getLogger(__name__)

MIN_AUDIO_S = 0.1
SILENCE_RMS = 10 ** (-55 / 20)  # below -55 dBFS: nothing to hear
QUIET_RMS = 10 ** (-35 / 20)  # below -35 dBFS: a canned phrase is probably invented
MAX_WINDOW_TOKENS = 224  # half of Whisper's 448-token context
HALLUCINATIONS = {
    "thank you", "thank you very much", "thanks for watching", "thank you for watching",
    "thanks for watching and ill see you next time", "please subscribe", "subscribe",
    "you", "bye", "bye bye", "so", "oh", "uh", "um", "hmm", "the end", "okay",
    "subtitles by the amaraorg community", "ill see you next time",
}
_NONSPEECH = re.compile(r"^\s*[\[(♪*].*[\])♪*]\s*$|^[\W_]*$")  # "[BLANK_AUDIO]", "(music)", "...", "♪"


def auto_threads(cores: int | None = None) -> int:
    """Decoder threads for stt.cpu_threads 0: every core but one, at most 4. The spare core keeps listening
    (VAD, wake word), the turn model and the voice running while Whisper decodes. CTranslate2's own default
    (4) oversubscribes a 2-core machine: measured here, 1-5 s commands took 244 ms with it, 70 ms on one
    thread, and 266 vs 125 ms in the pipeline (benchmarks/results/2026-11-30-vm-stt-threads.json)."""
    return max(1, min(4, (cores or os.cpu_count() or 2) - 1))


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


class FasterWhisperSTT:
    name = "faster_whisper"

    def __init__(self, model_path: str, *, model_name: str | None = None, device: str = "cpu",
                 compute_type: str = "int8", beam_size: int = 1, language: str | None = "en",
                 initial_prompt: str | None = None, cpu_threads: int = 0, no_speech_threshold: float = 0.6,
                 short_window_s: float = 12.0, hypotheses: int = 1):
        self.model_path = str(model_path)
        self.model_name = model_name or self.model_path
        self.device, self.compute_type = device, compute_type
        self.cpu_threads = cpu_threads or (auto_threads() if device != "cuda" else 0)
        self.beam_size, self.language = beam_size, language
        self.short_window_s = short_window_s
        self.hypotheses = hypotheses  # beam hypotheses kept for rescoring (short utterances)
        self.initial_prompt, self.no_speech_threshold = initial_prompt, no_speech_threshold
        self._model = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one decode at a time per model: CPU-bound anyway

    # ---- loading ----
    def _load(self):
        with self._load_lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                t0 = time.perf_counter()
                try:
                    self._model = WhisperModel(self.model_path, device=self.device, compute_type=self.compute_type,
                                               cpu_threads=self.cpu_threads)
                except Exception as exc:
                    raise STTFailed(f"Could not load Whisper model {self.model_name} ({exc}).",
                                    hint="Check stt.model, stt.device and stt.compute_type.") from None
                log.info("whisper %s loaded in %.2fs", self.model_name, time.perf_counter() - t0)
            return self._model

    def warmup(self) -> None:
        """Load the model and decode a short silence once (blocking; call it in a worker thread)."""
        model = self._load()
        with self._run_lock:
            segments, _ = model.transcribe(np.zeros(RATE, np.float32), language=self.language, beam_size=1,
                                           vad_filter=False, without_timestamps=True)
            list(segments)

    # ---- transcription ----
    async def transcribe(self, audio: AudioChunk, initial_prompt: str | None = None) -> Transcript:
        return await asyncio.to_thread(self.transcribe_sync, audio, initial_prompt)

    async def score(self, audio: AudioChunk, texts: list[str], *, prefix: str = "") -> list[float] | None:
        return await asyncio.to_thread(self.score_sync, audio, texts, prefix)

    def score_sync(self, audio: AudioChunk, texts: list[str], prefix: str = "") -> list[float] | None:
        """Each text's fit to a short utterance (see short_window.score_texts); None past the short window."""
        samples = _samples(audio)
        if not texts or not self.language or not MIN_AUDIO_S <= len(samples) / RATE <= self.short_window_s:
            return None
        model = self._load()
        try:
            with self._run_lock:
                return score_texts(model, samples, self.language, prefix, texts)
        except Exception as exc:
            raise STTFailed(f"Whisper could not score {len(texts)} readings: {exc}") from exc

    def transcribe_sync(self, audio: AudioChunk, initial_prompt: str | None = None) -> Transcript:
        t0 = time.perf_counter()
        samples = _samples(audio)
        audio_s = len(samples) / RATE
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
        if audio_s < MIN_AUDIO_S or rms < SILENCE_RMS:
            return Transcript(text="", language=self.language or "en", processing_s=time.perf_counter() - t0,
                              audio_s=audio_s)
        model = self._load()
        prompt = initial_prompt if initial_prompt is not None else self.initial_prompt
        alternatives: list[tuple[str, float]] = []
        try:
            with self._run_lock:
                raw = None
                if audio_s <= self.short_window_s and self.language:
                    fast = transcribe_short(model, samples, self.language, prompt, beam_size=self.beam_size,
                                            hypotheses=self.hypotheses)
                    if trustworthy(fast):
                        raw, alternatives = fast.segments, fast.alternatives
                if raw is None:
                    # One temperature and a token budget sized to the audio: a tone or noise makes Whisper
                    # loop, and sampling fallbacks (best_of 5 at each temperature) cost seconds of CPU.
                    seg_iter, _ = model.transcribe(
                        samples, language=self.language, beam_size=self.beam_size, initial_prompt=prompt,
                        vad_filter=False, condition_on_previous_text=False, temperature=0.0,
                        max_new_tokens=max_new_tokens(audio_s), no_speech_threshold=self.no_speech_threshold,
                        without_timestamps=False)
                    raw = list(seg_iter)  # decoding happens here, inside this worker thread
        except Exception as exc:
            raise STTFailed(f"Whisper failed on {audio_s:.1f}s of audio: {exc}") from exc
        segments = self._keep(raw, rms)
        text = cut_repeat(" ".join(s.text for s in segments).strip())
        confidence = _confidence(raw) if segments else {}
        return Transcript(text=text, language=self.language or "en", segments=tuple(segments),
                          processing_s=time.perf_counter() - t0, audio_s=audio_s, **confidence,
                          alternatives=_distinct(text, alternatives))

    def _keep(self, raw, rms: float) -> list[Segment]:
        kept: list[Segment] = []
        for s in raw:
            text = s.text.strip()
            if not text or _NONSPEECH.match(text):
                continue
            if s.no_speech_prob > self.no_speech_threshold and s.avg_logprob < -0.5:
                continue
            if s.compression_ratio > 2.6 or looped(text):  # "you you you you ..." loops
                continue
            kept.append(Segment(start=round(float(s.start), 3), end=round(float(s.end), 3), text=text))
        if kept:
            joined = normalize(" ".join(k.text for k in kept))
            suspicious = rms < QUIET_RMS or max(s.no_speech_prob for s in raw) > 0.3
            if joined in HALLUCINATIONS and suspicious:
                log.debug("dropping likely hallucination %r (rms %.4f)", joined, rms)
                return []
        return kept


def _samples(audio: AudioChunk) -> np.ndarray:
    return to_16k_mono(audio.samples, audio.sample_rate) if audio.sample_rate != RATE else audio.as_float32()


def max_new_tokens(audio_s: float) -> int:
    """Tokens one 30 s window may produce: ~4 words/s of speech plus timestamps, with room to spare."""
    return int(min(MAX_WINDOW_TOKENS, 16 + 8 * min(audio_s, 30.0)))


def looped(text: str) -> bool:
    """'Beep beep beep beep beep beep': one word is most of six or more (a decode stuck on a tone)."""
    words = normalize(text).split()
    return len(words) >= 6 and max(words.count(w) for w in set(words)) >= 0.6 * len(words)


def _confidence(raw) -> dict:
    """Whisper's own measures over the decoded segments: the weakest segment speaks for the utterance."""
    return {"avg_logprob": round(min(float(s.avg_logprob) for s in raw), 4),
            "no_speech_prob": round(max(float(s.no_speech_prob) for s in raw), 4),
            "compression_ratio": round(max(float(s.compression_ratio) for s in raw), 3)}


def _distinct(best: str, alternatives: list[tuple[str, float]]) -> tuple[Hypothesis, ...]:
    """Beam hypotheses that differ from the best (and each other) in words, not just punctuation."""
    seen, kept = {normalize(best)}, []
    for text, logprob in alternatives:
        key = normalize(text)
        if key and key not in seen:
            seen.add(key)
            kept.append(Hypothesis(text, round(logprob, 4)))
    return tuple(kept)
