"""One Wyoming connection: reads events with the `wyoming` library and answers each service's requests.

Bad input never takes the server down: a malformed header, a payload length that lies, audio in a
format Penny cannot read or a client gone mid-stream each give one clear log line naming the client,
an `error` event where the client can still read it, and the end of that connection only.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.info import Describe
from wyoming.intent import Recognize
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop
from wyoming.wake import Detect

from penny.errors import PennyError
from penny.wyoming import asr, conversation
from penny.wyoming.audio_in import AudioIn, BadAudio
from penny.wyoming.tts import Synthesis
from penny.wyoming.wake import WakeListener

log = logging.getLogger("penny.wyoming")


class TooLarge(Exception):  # not a ValueError: the library would swallow that as "end of stream"
    pass


class GuardedReader:
    """What `async_read_event` reads through: it keeps the last header line (to name what was wrong) and
    refuses lengths over `max_bytes` or bodies that stop arriving (a length that promises more than comes)."""

    def __init__(self, reader: asyncio.StreamReader, max_bytes: int, body_timeout_s: float):
        self.reader, self.max_bytes, self.body_timeout_s = reader, max_bytes, body_timeout_s
        self.line = b""

    async def readline(self) -> bytes:
        self.line = b""
        try:
            self.line = await self.reader.readline()
        except ValueError:  # asyncio's line limit: no newline within 64 KiB
            self.line = b"<a header line over 64 KiB>"
            raise
        return self.line

    async def readexactly(self, n: int) -> bytes:
        if n > self.max_bytes:
            raise TooLarge(f"its header announces {n} bytes (more than the {self.max_bytes} allowed)")
        return await asyncio.wait_for(self.reader.readexactly(n), self.body_timeout_s)


class PennyHandler(AsyncEventHandler):
    def __init__(self, reader, writer, engines, info_event: Event, *, max_event_bytes: int, body_timeout_s: float):
        super().__init__(reader, writer)
        self.engines = engines
        self.info_event = info_event
        self.guarded = GuardedReader(reader, max_event_bytes, body_timeout_s)
        self.id = uuid.uuid4().hex[:8]
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "?")
        self.transcribe: Transcribe | None = None
        self.listener: WakeListener | None = None
        self.audio: AudioIn | None = None
        self.tts = Synthesis(engines, self.write_event)

    # ---- reading: the library's loop, with the failures named ----
    async def run(self) -> None:
        self._is_running = True
        try:
            while self._is_running:
                try:
                    event = await async_read_event(self.guarded)
                except asyncio.IncompleteReadError as exc:
                    self._drop(f"the client closed after {len(exc.partial)} of the {exc.expected} bytes its header "
                               "announced (a payload length that lies, or a drop mid-event)")
                    break
                except asyncio.TimeoutError:
                    await self._refuse(f"the bytes its header announced did not come within "
                                       f"{self.guarded.body_timeout_s:g} s (a payload length that lies?)", "bad-length")
                    break
                except TooLarge as exc:
                    await self._refuse(str(exc), "too-large")
                    break
                except Exception as exc:  # valid JSON that is not an event: a list, no "type", a text length...
                    await self._refuse(f"malformed event header {self._line()} ({type(exc).__name__}: {exc})",
                                       "bad-event")
                    break
                if event is None:
                    if self.guarded.line:  # the library swallows a JSON error and reports it as the end
                        await self._refuse(f"malformed event header {self._line()}", "bad-event")
                    elif self.audio is not None:
                        self._drop(f"the client disconnected mid-stream, after {self.audio.seconds_in:.1f} s "
                                   "of audio and before audio-stop")
                    break
                try:
                    if not await self.handle_event(event):
                        break
                except BadAudio as exc:
                    await self._refuse(f"unreadable audio: {exc}", "bad-audio")
                    break
                except (ConnectionError, BrokenPipeError):
                    self._drop(f"the client went away while Penny answered {event.type!r}")
                    break
                except PennyError as exc:
                    await self._refuse(f"{event.type}: {exc}", exc.code)
                    break
                except Exception as exc:
                    log.exception("wyoming %s: %s failed", self.peer, event.type)
                    await self._refuse(f"{event.type} failed: {type(exc).__name__}: {exc}", "internal-error",
                                       quiet=True)
                    break
        finally:
            await self.disconnect()
            self.writer.close()

    def _line(self) -> str:
        return repr(self.guarded.line[:120].decode("utf-8", "replace").strip())

    def _drop(self, why: str) -> None:
        log.warning("wyoming %s: %s; connection dropped", self.peer, why)

    async def _refuse(self, why: str, code: str, quiet: bool = False) -> None:
        if not quiet:
            self._drop(why)
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.write_event(Error(text=why, code=code).event())

    async def disconnect(self) -> None:
        await self.tts.close()

    # ---- one event ----
    async def handle_event(self, event: Event) -> bool:
        t, data = event.type, event.data or {}
        if Describe.is_type(t):
            await self.write_event(self.info_event)
        elif Ping.is_type(t):
            await self.write_event(Pong(text=data.get("text")).event())
        elif Transcribe.is_type(t):
            self.transcribe, self.listener = Transcribe.from_event(event), None
        elif Detect.is_type(t):
            self.listener, self.transcribe = WakeListener(self.engines, Detect.from_event(event)), None
        elif AudioStart.is_type(t):
            self.audio = AudioIn.from_event(data)
            self.audio.keep = self.listener is None
        elif AudioChunk.is_type(t):
            if self.audio is None:  # audio without audio-start: its chunk says the format
                self.audio = AudioIn.from_event(data)
                self.audio.keep = self.listener is None
            samples = self.audio.feed(data, event.payload)
            if self.listener is not None:
                for ev in await self.listener.feed(samples):
                    await self.write_event(ev)
        elif AudioStop.is_type(t):
            await self._audio_stop()
        elif Synthesize.is_type(t):
            await self.tts.synthesize(event)
        elif SynthesizeStart.is_type(t):
            await self.tts.stream_start(event)
        elif SynthesizeChunk.is_type(t):
            await self.tts.stream_chunk(event)
        elif SynthesizeStop.is_type(t):
            await self.tts.stream_stop()
        elif Transcript.is_type(t) or Recognize.is_type(t):
            await self.write_event(await conversation.answer(self.engines, str(data.get("text") or ""),
                                                            data.get("context"), self.id))
        else:
            log.debug("wyoming %s: ignoring %r", self.peer, t)  # the protocol says: drop what you don't know
        return True

    async def _audio_stop(self) -> None:
        audio, self.audio = self.audio, None
        if audio is None:
            audio = AudioIn(16000, 2, 1)  # audio-stop with no audio: an empty utterance
        tail = audio.finish()
        listener, self.listener = self.listener, None
        if listener is not None:
            for ev in await listener.feed(tail) + await listener.finish():
                await self.write_event(ev)
            return
        request, self.transcribe = self.transcribe, None
        await asr.transcribe(self.engines, audio.samples(), request, self.write_event)  # audio alone: transcribe it
