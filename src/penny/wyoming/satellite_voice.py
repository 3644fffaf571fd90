"""One satellite's voice session, and what it says back to the satellite.

The session (VoiceSession, public API only) lives as long as Penny runs, across reconnects. Its events
become Wyoming events; its reply audio goes out paced, never more than `lead_s` ahead of what the
satellite is playing, so a barge-in (Interrupted) stops the room's speaker within that much audio: the
satellite has nothing more queued, and gets `audio-stop` at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import numpy as np
from wyoming.asr import Transcript as WyTranscript
from wyoming.audio import AudioChunk as WyChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.timer import TimerFinished
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped
from wyoming.wake import Detection

from penny.core import events as ev
from penny.core import pcm

log = logging.getLogger(__name__)
PIECE_S = 0.064  # audio-chunk size sent to the satellite (Home Assistant sends 1024 samples)


class SatelliteVoice:
    lead_s = 0.4  # how far Penny's audio may run ahead of the satellite's playback

    def __init__(self, link):
        self.link = link
        self.session = None
        self.mode: str | None = None
        self.local_wake = False  # the current pipeline began with the satellite's own wake word
        self.streaming = False  # a pipeline is open: the satellite's audio goes to the session
        self.speaks = True  # the pipeline ends in TTS (a satellite without a speaker asks for less)
        self.wake_on: str | None = None  # "satellite" | "penny", once a pipeline said which
        self._gate_open = False
        self._feeding = asyncio.Lock()  # one writer of the session's audio at a time
        self._voice_at: float | None = None  # voice-started was sent (at this stream time), voice-stopped not yet
        self._pump: asyncio.Task | None = None
        self._player: asyncio.Task | None = None
        self._audio: asyncio.Queue = asyncio.Queue()
        self._stream_turn: str | None = None  # the reply whose audio stream is open on the satellite
        self._cut: set[str] = set()
        self._play_until = 0.0  # monotonic time the satellite finishes what it was sent
        self._missed: list[ev.Alert] = []  # alerts that fired while the satellite was away

    # ---- state for the page ----
    def state(self) -> str:
        if self._stream_turn is not None or time.monotonic() < self._play_until:
            return "speaking"
        if self.streaming and (self.local_wake or self._gate_open):
            return "listening"
        return "connected"

    # ---- from the link ----
    async def start_pipeline(self, local_wake: bool, speaks: bool) -> None:
        cfg = self.link.engines.cfg
        mode = "always_listening" if local_wake else (
            cfg.wake.mode if cfg.wake.mode in ("wake_word", "always_listening") else "wake_word")
        await self._ensure_session(mode)
        self.local_wake, self.speaks, self.streaming = local_wake, speaks, True
        self.wake_on = "satellite" if local_wake else "penny"
        self._gate_open = mode == "always_listening"
        if local_wake:
            await self.interrupt()  # a new command cuts a reply still playing

    async def _ensure_session(self, mode: str) -> None:
        if self.session is not None and mode != self.mode:  # same id, so the conversation carries on
            await self._close_session()
        if self.session is None:
            self.session = self.link.engines.new_session(self.link.session_id, mode=mode)
            self.mode = mode
            self._pump = asyncio.create_task(self._forward(self.session), name=f"penny-{self.link.session_id}")
        if self._player is None:
            self._player = asyncio.create_task(self._play(), name=f"penny-{self.link.session_id}-audio")

    async def feed(self, chunk: ev.AudioChunk) -> None:
        async with self._feeding:
            if self.session is not None:
                await self.session.feed(chunk)

    async def _close_utterance(self) -> None:
        """The satellite stopped streaming on our transcript, maybe before the endpointer saw the utterance end
        (a quick end of turn): the silence it would have heard, so the next command starts a new utterance."""
        need = (self.link.engines.cfg.vad.end_silence_ms + 200) / 1000
        step = np.zeros(int(0.032 * pcm.RATE), np.float32)
        for _ in range(int(need / 0.032) + 1):
            async with self._feeding:
                if self.streaming or self.session is None:
                    return  # the next command's real audio is here
                await self.session.feed(ev.AudioChunk(step, pcm.RATE))

    async def end_of_input(self) -> None:
        if self.session is not None and self.streaming:
            await self.session.end_of_input()
        if self.local_wake:
            self.streaming = False

    async def interrupt(self) -> None:
        if self.session is not None:
            await self.session.interrupt()

    async def give_up(self, why: str) -> None:
        self.streaming = False
        await self.link.write(Error(text=why, code="stt-no-text").event())

    def played(self) -> None:
        self._play_until = 0.0

    async def connected(self) -> None:
        # The room's session exists from the first connection (a timer set before a restart is said here),
        # in the mode of its last pipeline; the first run-pipeline sets the mode it asks for.
        await self._ensure_session(self.mode or "always_listening")
        missed, self._missed = self._missed, []
        for alert in missed if self.session is not None else ():  # said now, in the room that set it
            log.info("satellite %s: saying the alert it missed: %s", self.link.name, alert.text)
            asyncio.create_task(self.session.announce(alert))

    async def disconnected(self) -> None:
        self.streaming, self._gate_open, self._voice_at = False, False, None
        self._stream_turn, self._play_until = None, 0.0
        if self.session is not None:
            await self.session.interrupt()  # nobody hears the rest; the turn is kept as interrupted

    async def close(self) -> None:
        await self._close_session()
        if self._player is not None:
            self._player.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._player
            self._player = None

    async def _close_session(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        with contextlib.suppress(Exception):
            await session.close()
        if self._pump is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._pump, 2.0)
            self._pump = None

    # ---- session events -> satellite ----
    async def _forward(self, session) -> None:
        try:
            async for event in session.events():
                await self._on_session_event(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("satellite %s: event pump failed", self.link.name)

    async def _on_session_event(self, e) -> None:
        write, listening = self.link.write, self.streaming and (self.local_wake or self._gate_open)
        if isinstance(e, ev.ReplyAudio):
            if self.link.connected and self.speaks and e.turn_id not in self._cut:
                self._audio.put_nowait(("audio", e.turn_id, e.audio))
        elif isinstance(e, ev.Interrupted):
            await self._stop_audio(e.turn_id)
        elif isinstance(e, ev.ReplyDone):
            if e.text and self.speaks:
                await write(Synthesize(text=e.text).event())  # what was said (the audio went out as it was made)
            self._audio.put_nowait(("end", e.turn_id, None))
        elif isinstance(e, ev.WakeDetected):
            await write(Detection(name=e.name, timestamp=int(e.t * 1000)).event())
        elif isinstance(e, ev.Listening):
            self._gate_open = e.open
        elif isinstance(e, ev.SpeechStarted) and listening:
            self._voice_at = e.t
            await write(VoiceStarted(timestamp=int(e.t * 1000)).event())
        elif isinstance(e, ev.SpeechEnded):
            await self._voice_stopped(e.t)
        elif isinstance(e, ev.Transcript) and self.local_wake and self.streaming:
            # A quick end of turn can come before the endpointer's own end: voice-stopped first, as HA orders it.
            await self._voice_stopped(self._voice_at or 0.0)
            self.streaming = False  # the satellite stops streaming and goes back to its wake word
            await write(WyTranscript(text=e.text, language=e.language).event())
            asyncio.create_task(self._close_utterance())
        elif isinstance(e, ev.ReplyStarted) and not self.local_wake:
            await write(WyTranscript(text=e.user_text).event())  # Penny's wake word let the command through
        elif isinstance(e, ev.Alert):
            if not self.link.connected:
                self._missed.append(e)
            elif e.kind == "timer":
                await write(TimerFinished(id=e.id).event())
        elif isinstance(e, ev.ErrorEvent):
            await write(Error(text=e.message, code=e.code).event())

    async def _voice_stopped(self, t: float) -> None:
        if self._voice_at is not None:
            self._voice_at = None
            await self.link.write(VoiceStopped(timestamp=int(t * 1000)).event())

    # ---- paced reply audio ----
    async def _stop_audio(self, turn_id: str) -> None:
        self._cut.add(turn_id)
        if len(self._cut) > 64:
            self._cut = {turn_id}
        waiting = [self._audio.get_nowait() for _ in range(self._audio.qsize())]
        for item in waiting:
            if item[1] != turn_id:
                self._audio.put_nowait(item)
        if self._stream_turn == turn_id:
            self._stream_turn, self._play_until = None, 0.0
            await self.link.write(AudioStop().event())
            log.info("satellite %s: reply %s cut (barge-in)", self.link.name, turn_id)

    async def _play(self) -> None:
        while True:
            try:
                timeout = None
                if self._stream_turn is not None and self._stream_turn.startswith("alert-"):
                    # An alert has no ReplyDone: its stream ends when no more audio comes.
                    timeout = max(0.0, self._play_until - time.monotonic()) + 0.3
                try:
                    kind, turn_id, chunk = await asyncio.wait_for(self._audio.get(), timeout)
                except asyncio.TimeoutError:
                    kind, turn_id, chunk = "end", self._stream_turn, None
                if kind == "end":
                    if turn_id is not None and turn_id == self._stream_turn:
                        self._stream_turn = None
                        await self.link.write(AudioStop().event())
                    continue
                await self._send(turn_id, chunk)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("satellite %s: audio out failed", self.link.name)

    async def _send(self, turn_id: str, chunk: ev.AudioChunk) -> None:
        if turn_id in self._cut:
            return
        rate = chunk.sample_rate
        if self._stream_turn != turn_id:
            if self._stream_turn is not None:
                await self.link.write(AudioStop().event())
            self._stream_turn = turn_id
            self._play_until = max(self._play_until, time.monotonic())
            await self.link.write(AudioStart(rate=rate, width=2, channels=1).event())
        data = pcm.to_int16(chunk.samples)
        step = max(1, int(rate * PIECE_S))
        for start in range(0, len(data), step):
            if turn_id in self._cut or self._stream_turn != turn_id:
                return
            piece = data[start:start + step]
            event = WyChunk(rate=rate, width=2, channels=1, audio=piece.tobytes()).event()
            if not await self.link.write(event, still=lambda: self._stream_turn == turn_id):
                return
            now = time.monotonic()
            self._play_until = max(self._play_until, now) + len(piece) / rate
            ahead = self._play_until - now - self.lead_s
            if ahead > 0:
                await asyncio.sleep(ahead)
