"""Penny drives one Wyoming satellite (a microphone and a speaker in a room), the way Home Assistant does.

Penny connects to the satellite, sends `run-satellite`, and answers what the satellite asks for:
- `run-pipeline` with start_stage `asr`: the satellite heard its own wake word (a `detection` comes first);
  the audio that follows is one command, heard by a session in always_listening mode; Penny's `transcript`
  tells the satellite to stop streaming.
- `run-pipeline` with start_stage `wake`: the satellite streams all the time; Penny's own wake engine (the
  session in wake_word mode, or always_listening if so configured) decides what is meant for it.
Either way the satellite gets `detection`, `voice-started`/`voice-stopped`, `transcript`, `synthesize` and the
reply as `audio-start`/`audio-chunk`/`audio-stop` (paced, see satellite_voice.py), and says `played`.

Each satellite has one VoiceSession for as long as Penny runs, keyed `satellite-<name>`: a drop and a
reconnect keep its conversation, its pending question and its timers. A satellite that goes silent
(no answer to a ping) or drops is logged, reconnected with backoff, and disturbs no other room.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from urllib.parse import urlparse

import numpy as np
from wyoming.audio import AudioChunk as WyChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.snd import Played
from wyoming.wake import Detection

from penny.core import pcm
from penny.core.events import AudioChunk
from penny.wyoming.satellite_voice import SatelliteVoice

log = logging.getLogger(__name__)


class SatelliteSilent(Exception):
    """The satellite stopped answering (its host hangs, a network cable is out)."""


def satellite_name(uri: str, name: str | None) -> str:
    return name or urlparse(uri).hostname or uri


class SatelliteLink:
    backoff_s = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # between reconnect attempts; back to the start once it answers
    connect_timeout_s = 5.0
    ping_after_s = 2.0  # quiet this long: ask the satellite whether it is still there
    answer_timeout_s = 5.0  # a ping unanswered this long: the satellite is gone (Home Assistant uses 5 s too)
    listen_limit_s = 15.0  # a satellite-woken command that never ends in a turn is closed after this much audio

    def __init__(self, engines, uri: str, name: str | None = None):
        parsed = urlparse(uri)
        if parsed.scheme != "tcp" or not parsed.hostname or not parsed.port:
            raise ValueError(f"satellite uri {uri!r}: expected tcp://host:port")
        self.engines, self.uri = engines, uri
        self.host, self.port = parsed.hostname, parsed.port
        self.name = satellite_name(uri, name)
        # Stable across reconnects and restarts: the room's conversation and timers are keyed by it.
        self.session_id = "satellite-" + re.sub(r"[^A-Za-z0-9_.-]", "-", self.name)[:50]
        self.voice = SatelliteVoice(self)
        self.link_state = "connecting"  # connecting | connected | reconnecting | stopped
        self.reconnects = 0
        self.last_error: str | None = None
        self.connected_since: float | None = None
        self.info: Info | None = None
        self._client: AsyncTcpClient | None = None
        self._write_lock = asyncio.Lock()
        self._resampler: pcm.StreamResampler | None = None
        self._heard_s = 0.0  # audio of the current satellite-woken command

    # ---- what the page shows ----
    @property
    def state(self) -> str:
        if self.link_state != "connected":
            return self.link_state
        return self.voice.state()

    def status(self) -> dict:
        since = self.connected_since
        return {"name": self.name, "uri": self.uri, "session_id": self.session_id, "state": self.state,
                "connected_s": round(time.monotonic() - since, 1) if since is not None else None,
                "reconnects": self.reconnects, "last_error": self.last_error,
                "wake": self.voice.wake_on}

    @property
    def connected(self) -> bool:
        return self._client is not None and self.link_state == "connected"

    async def write(self, event: Event, still=None) -> bool:
        """Send one event; False when not connected or the write failed (the reader notices and reconnects).
        `still()`, checked once the turn to write comes: False drops the event (audio of a reply cut meanwhile)."""
        client = self._client
        if client is None:
            return False
        try:
            async with self._write_lock:
                if still is not None and not still():
                    return False
                await client.write_event(event)
            return True
        except (OSError, ConnectionError, AssertionError, RuntimeError) as exc:
            log.debug("satellite %s: write failed: %s", self.name, exc)
            return False

    # ---- the connection, for as long as Penny runs ----
    async def run(self) -> None:
        attempt = 0
        try:
            while True:
                answered = False
                try:
                    answered = await self._connect_and_serve()
                    reason = "closed the connection"
                except asyncio.CancelledError:
                    raise
                except SatelliteSilent as exc:
                    reason = str(exc)
                except (OSError, ConnectionError, asyncio.TimeoutError, EOFError) as exc:
                    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                except Exception as exc:  # a malformed event, a bug: this room reconnects, the others go on
                    log.exception("satellite %s (%s) failed", self.name, self.uri)
                    reason = f"{type(exc).__name__}: {exc}"
                finally:
                    await self._drop()
                attempt = 0 if answered else attempt + 1
                delay = self.backoff_s[min(attempt, len(self.backoff_s) - 1)]
                level = logging.INFO if reason == self.last_error else logging.WARNING  # a switched-off one: once
                self.last_error, self.link_state = reason, "reconnecting"
                self.reconnects += 1
                log.log(level, "satellite %s (%s): %s; reconnecting in %g s", self.name, self.uri, reason, delay)
                await asyncio.sleep(delay)
        finally:
            self.link_state = "stopped"

    async def pause(self) -> None:
        """Before hanging up for good, as Home Assistant does: the satellite stops streaming at once."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.write(PauseSatellite().event()), 1.0)

    async def stop(self) -> None:
        await self._drop()
        self.link_state = "stopped"
        await self.voice.close()

    async def _connect_and_serve(self) -> bool:
        """Until the connection ends; True if the satellite answered at all (the backoff starts over)."""
        client = AsyncTcpClient(self.host, self.port, connect_timeout=self.connect_timeout_s)
        await client.connect()
        self._client, self.link_state, self.connected_since = client, "connected", time.monotonic()
        log.info("satellite %s connected (%s)", self.name, self.uri)
        await self.write(RunSatellite().event())
        await self.write(Describe().event())
        await self.voice.connected()
        answered = False
        pinged_at: float | None = None
        reading = asyncio.ensure_future(client.read_event())
        try:
            while True:
                # Never cancel a read half-way (the stream would lose its place): wait on the one read task.
                done, _ = await asyncio.wait({reading}, timeout=self.ping_after_s)
                if not done:
                    if pinged_at is None:
                        pinged_at = time.monotonic()
                        await self.write(Ping().event())
                    elif time.monotonic() - pinged_at > self.answer_timeout_s:
                        raise SatelliteSilent(f"no answer to a ping in {self.answer_timeout_s:g} s")
                    continue
                event = reading.result()
                if event is None:
                    return answered
                answered, pinged_at = True, None  # anything it says proves it is there
                reading = asyncio.ensure_future(client.read_event())
                await self._on_event(event)
        finally:
            reading.cancel()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        self.connected_since = None
        if self.link_state == "connected":
            self.link_state = "reconnecting"
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)
        await self.voice.disconnected()

    # ---- events from the satellite ----
    async def _on_event(self, event: Event) -> None:
        if WyChunk.is_type(event.type):
            await self._on_audio(WyChunk.from_event(event))
        elif Ping.is_type(event.type):
            await self.write(Pong(text=Ping.from_event(event).text).event())
        elif RunPipeline.is_type(event.type):
            await self._on_run_pipeline(RunPipeline.from_event(event))
        elif Detection.is_type(event.type):  # its own wake word: a reply still playing stops (barge-in)
            log.info("satellite %s heard its wake word %r", self.name, Detection.from_event(event).name)
            await self.voice.interrupt()
        elif AudioStart.is_type(event.type):
            self._resampler = None
        elif AudioStop.is_type(event.type):  # the satellite ended its audio: what was said so far is the turn
            await self.voice.end_of_input()
        elif Played.is_type(event.type):
            self.voice.played()
        elif Info.is_type(event.type):
            self.info = Info.from_event(event)
        elif not Pong.is_type(event.type):
            log.debug("satellite %s: unexpected event %s", self.name, event.type)

    async def _on_run_pipeline(self, run: RunPipeline) -> None:
        if run.start_stage not in (PipelineStage.WAKE, PipelineStage.ASR):
            log.warning("satellite %s asked for a pipeline from %s; Penny starts at wake or asr", self.name,
                        run.start_stage.value)
            return
        self._heard_s = 0.0
        await self.voice.start_pipeline(local_wake=run.start_stage == PipelineStage.ASR,
                                        speaks=run.end_stage == PipelineStage.TTS)

    async def _on_audio(self, chunk: WyChunk) -> None:
        if not self.voice.streaming:
            return  # audio outside a pipeline (the satellite was told to stop): not for Penny
        if chunk.width not in (1, 2, 4) or chunk.channels < 1 or len(chunk.audio) % (chunk.width * chunk.channels):
            raise ValueError(f"audio of width {chunk.width}, {chunk.channels} channels and {len(chunk.audio)} "
                             "bytes is not PCM Penny can read")
        dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}[chunk.width]
        samples = np.frombuffer(chunk.audio, dtype=dtype).reshape(-1, chunk.channels)
        if self._resampler is None or self._resampler.in_rate != chunk.rate:
            self._resampler = pcm.StreamResampler(chunk.rate, pcm.RATE)
        mono = self._resampler.process(samples)
        self._heard_s += len(mono) / pcm.RATE
        await self.voice.feed(AudioChunk(mono, pcm.RATE))
        if self.voice.local_wake and self._heard_s > self.listen_limit_s:
            log.info("satellite %s: no command in %.0f s of audio; back to its wake word", self.name, self._heard_s)
            await self.voice.give_up("no command heard")
