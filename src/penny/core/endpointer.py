"""End-of-turn detection: VAD frame probabilities → SpeechStarted / SilenceStarted / SpeechEnded.

Feed `process(chunk)` 16 kHz audio of any chunk size; it reframes to the VAD's frame size.
Times (`t`, `start_t`, `decided_t`) are seconds of stream audio, counted in samples since the
first sample fed (or the last `reset()`), so they do not depend on wall-clock or chunking.

States: idle → candidate (voiced frames seen, fewer than `min_speech_ms`) → speech → idle.
A candidate that goes quiet for `end_silence_ms` before reaching `min_speech_ms` is noise and
is dropped silently. In speech, hysteresis keeps the turn open while the probability stays
above `threshold - 0.15`; `end_silence_ms` of silence ends it, `max_utterance_s` cuts it.
The `preroll_ms` of audio before the first voiced frame is kept so the first syllable survives.
"""
from __future__ import annotations

import collections

import numpy as np

from penny.config import VADConfig
from penny.core.contracts import VAD
from penny.core.events import AudioChunk, SilenceStarted, SpeechEnded, SpeechStarted
from penny.core.pcm import RATE as SR

TAIL_PAD_S = 0.2  # silence kept after the last voiced sample: Whisper likes a little padding
# A gap this long starts barge-in's count of voice (`voiced_s`) again. Not early_silence_ms: at 64 ms the
# closure of the /t/ in "Stop." reset it over a reply, and the stop came ~60 ms later (echo soak, p90 171 -> 230).
BURST_GAP_S = 0.12

Event = SpeechStarted | SilenceStarted | SpeechEnded
IDLE, CANDIDATE, SPEECH = "idle", "candidate", "speech"


class Endpointer:
    def __init__(self, vad: VAD, cfg: VADConfig, early_silence_ms: int | None = None):
        self.vad = vad
        self.frame = int(vad.frame_samples)
        self.threshold = float(cfg.threshold)
        self.neg_threshold = max(0.01, self.threshold - 0.15)
        self.min_speech = int(cfg.min_speech_ms * SR / 1000)
        self.end_silence = int(cfg.end_silence_ms * SR / 1000)
        early = cfg.early_silence_ms if early_silence_ms is None else early_silence_ms
        self.early_silence = min(self.end_silence, max(1, int(early * SR / 1000)))
        self.burst_gap = int(BURST_GAP_S * SR)
        self.max_utterance = int(cfg.max_utterance_s * SR)
        self.preroll = int(cfg.preroll_ms * SR / 1000)
        self.tail_pad = int(TAIL_PAD_S * SR)
        self.reset()

    # ---- public ----
    def reset(self) -> None:
        self.vad.reset()
        self.last_probability = 0.0
        self._voice_end: int | None = None  # stream sample where the last voiced frame ended
        self.state = IDLE
        self._pos = 0  # samples already judged by the VAD
        self._pending = np.zeros(0, np.float32)
        self._pre: collections.deque[np.ndarray] = collections.deque()
        self._pre_len = 0
        self._cand: list[np.ndarray] = []
        self._utt: list[np.ndarray] = []
        self._silence_sent: bool = False
        self._clear_turn()

    def hold(self, ms: int) -> None:
        """Let the current pause last up to `ms` before it ends the utterance (the user is mid-thought)."""
        if self.state == SPEECH:
            self.pause_limit = max(self.end_silence, int(ms * SR / 1000))

    @property
    def voiced_s(self) -> float:
        """Voice heard since the last pause (or since the utterance began, before it is confirmed)."""
        return self._burst / SR

    @property
    def since_voice_s(self) -> float:
        """Seconds since the last frame the VAD heard as voice (any state); inf before the first."""
        return float("inf") if self._voice_end is None else (self._pos - self._voice_end) / SR

    @property
    def in_speech(self) -> bool:
        return self.state == SPEECH

    @property
    def position_s(self) -> float:
        return (self._pos + len(self._pending)) / SR

    def process(self, chunk: AudioChunk) -> list[Event]:
        if chunk.sample_rate != SR:
            raise ValueError(f"Endpointer takes {SR} Hz audio, got {chunk.sample_rate} Hz (resample at the source)")
        data = chunk.as_float32()
        if data.ndim != 1:
            raise ValueError("Endpointer takes mono audio")
        buf = np.concatenate([self._pending, data]) if len(self._pending) else data
        events: list[Event] = []
        n = self.frame
        full = len(buf) - len(buf) % n
        for i in range(0, full, n):
            self._frame(buf[i:i + n], events)
        self._pending = buf[full:].copy()
        return events

    def flush(self) -> list[Event]:
        """End of stream: close an open utterance (its end decided now); drop an unconfirmed one."""
        events: list[Event] = []
        rest, self._pending = self._pending, np.zeros(0, np.float32)
        if self.state == SPEECH:
            if len(rest):
                self._utt.append(rest)
            self._pos += len(rest)
            self._end(events, forced=True)
        else:
            self._pos += len(rest)
            self._clear_turn()
            self.state = IDLE
        return events

    # ---- one VAD frame ----
    def _frame(self, f: np.ndarray, events: list[Event]) -> None:
        p = float(self.vad.speech_probability(f))
        self.last_probability = p
        s0, s1 = self._pos, self._pos + len(f)
        self._pos = s1
        if p >= self.threshold:
            self._voice_end = s1
        if self.state == IDLE:
            if p >= self.threshold:
                self.state = CANDIDATE
                self._cand = [f]
                self._start, self._voiced, self._gap, self._last_voiced = s0, len(f), 0, s1
                self._burst = len(f)
                self._maybe_confirm(events, s1)
            else:
                self._remember(f)
        elif self.state == CANDIDATE:
            self._cand.append(f)
            if p >= self.threshold:
                self._voiced += len(f)
                self._burst += len(f)
                self._gap, self._last_voiced = 0, s1
                self._maybe_confirm(events, s1)
            elif p < self.neg_threshold:
                self._gap += len(f)
                if self._gap >= self.end_silence:  # a blip, not speech
                    for c in self._cand:
                        self._remember(c)
                    self._clear_turn()
                    self.state = IDLE
        else:
            self._utt.append(f)
            if p >= self.neg_threshold:
                self._burst += len(f) if p >= self.threshold else 0
                self._last_voiced, self._silence, self._silence_sent = s1, 0, False
                self.pause_limit = self.end_silence
            else:
                self._silence += len(f)
                if self._silence >= self.burst_gap:
                    self._burst = 0
                if not self._silence_sent and self._silence >= self.early_silence:
                    self._silence_sent = True
                    events.append(SilenceStarted(t=self._last_voiced / SR, audio=self._audio(),
                                                 start_t=self._start / SR, audio_t=self._utt_start / SR))
                if self._silence >= self.pause_limit:
                    self._end(events, forced=False)
                    return
            if s1 - self._start >= self.max_utterance:
                self._end(events, forced=True)

    def _maybe_confirm(self, events: list[Event], now: int) -> None:
        if self._voiced < self.min_speech:
            return
        pre = np.concatenate(list(self._pre)) if self._pre else np.zeros(0, np.float32)
        pre = pre[len(pre) - min(len(pre), self.preroll):]
        self._utt = [pre] + self._cand
        self._utt_start = self._start - len(pre)
        self._silence = now - self._last_voiced
        self._silence_sent = False
        self._cand = []
        self._pre.clear()
        self._pre_len = 0
        self.state = SPEECH
        events.append(SpeechStarted(t=self._start / SR))

    def _end(self, events: list[Event], forced: bool) -> None:
        audio = np.concatenate(self._utt) if self._utt else np.zeros(0, np.float32)
        keep = min(len(audio), self._last_voiced + self.tail_pad - self._utt_start)
        events.append(SpeechEnded(t=self._last_voiced / SR, audio=AudioChunk(audio[:keep].copy(), SR),
                                  start_t=self._start / SR, decided_t=self._pos / SR,
                                  audio_t=self._utt_start / SR))
        trailing = audio[max(0, self._last_voiced - self._utt_start):]
        self._clear_turn()
        self.state = IDLE
        if not forced and len(trailing):  # the silence just heard is the next turn's pre-roll
            self._remember(trailing)

    # ---- buffers ----
    def _audio(self) -> AudioChunk:
        return AudioChunk(np.concatenate(self._utt), SR)

    def _remember(self, f: np.ndarray) -> None:
        if self.preroll <= 0:
            return
        self._pre.append(f)
        self._pre_len += len(f)
        while self._pre and self._pre_len - len(self._pre[0]) >= self.preroll:
            self._pre_len -= len(self._pre.popleft())

    def _clear_turn(self) -> None:
        self._cand = []
        self._utt = []
        self._utt_start = self._start = self._last_voiced = 0
        self._voiced = self._gap = self._silence = self._burst = 0
        self._silence_sent = False
        self.pause_limit = self.end_silence
