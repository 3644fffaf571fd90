"""One WebSocket connection = one VoiceSession (its own conversation). See docs/protocol.md."""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import uuid

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

import penny
from penny.core import events as ev
from penny.errors import PennyError
from penny.server import protocol as P
from penny.server.auth import SUBPROTOCOL, bearer, token_from_subprotocols

log = logging.getLogger(__name__)

# WebSocket close codes.
CLOSE_POLICY = 1008  # bad token / origin, or flooding
CLOSE_TOO_BIG = 1009
CLOSE_PROTOCOL = 1002
MAX_TEXT_CHARS = 4000  # a typed turn, as POST /api/chat


class TokenBucket:
    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.level = burst
        self.t = time.monotonic()

    def take(self, amount: float) -> bool:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.t) * self.rate)
        self.t = now
        if amount > self.level:
            return False
        self.level -= amount
        return True


class Closed(Exception):
    """The server decided to close this connection (its code and reason)."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


class Connection:
    def __init__(self, ws: WebSocket, state):
        self.ws = ws
        self.state = state
        self.session = None
        self.session_id: str | None = None
        self.mode: str | None = None
        self.pump: asyncio.Task | None = None
        self.send_lock = asyncio.Lock()
        self.max_frame = state.cfg.server.max_frame_kb * 1024
        self.msgs = TokenBucket(state.limits["msgs_per_s"], state.limits["msgs_burst"])
        self.bytes = TokenBucket(state.limits["bytes_per_s"], state.limits["bytes_burst"])
        self.stream = 0  # reply audio stream id, one per turn that speaks
        self.audio_turn: str | None = None

    # ---- admission ----
    def admit(self) -> tuple[bool, str]:
        g = self.state.guard
        h = self.ws.headers
        if not g.host_ok(h.get("host")):
            return False, "host not allowed"
        if not g.origin_ok(h.get("origin"), h.get("host")):
            return False, "origin not allowed"
        offered = self._offered()
        if not g.token_ok(token_from_subprotocols(offered) or bearer(h.get("authorization"))):
            return False, "missing or wrong access token"
        return True, ""

    def _offered(self) -> list[str]:
        raw = self.ws.headers.get("sec-websocket-protocol", "")
        return [p.strip() for p in raw.split(",") if p.strip()]

    # ---- main loop ----
    async def run(self) -> None:
        ok, why = self.admit()
        if not ok:
            log.warning("websocket refused: %s", why)
            self.state.metrics.ws_closed.labels("refused").inc()
            await self.ws.close(code=CLOSE_POLICY, reason=why)
            return
        await self.ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in self._offered() else None)
        m = self.state.metrics
        m.ws_opened.inc()
        m.ws_active.inc()
        try:
            await self._receive_loop()
        except Closed as c:
            m.ws_closed.labels(c.reason).inc()
            with contextlib.suppress(Exception):
                await self.send(P.error_message(c.reason, str(c), fatal=True))
                await self.ws.close(code=c.code, reason=c.reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client went away mid-receive
        finally:
            m.ws_active.dec()
            await self._close_session()

    async def _receive_loop(self) -> None:
        while True:
            msg = await self.ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("bytes")
            text = msg.get("text") if data is None else None
            size = len(data) if data is not None else len((text or "").encode("utf-8"))
            if size > self.max_frame:
                raise Closed(CLOSE_TOO_BIG, "frame-too-large")
            if not self.msgs.take(1) or not self.bytes.take(size):
                raise Closed(CLOSE_POLICY, "rate-limit")
            try:
                if data is not None:
                    await self._on_audio(P.unpack_audio(data))
                elif text is not None:
                    await self._on_message(P.parse_message(text))
            except Closed:
                raise
            except PennyError as exc:
                await self.send_error(exc.code, str(exc))
            except Exception as exc:  # one bad message never ends the connection
                log.exception("websocket message failed")
                await self.send_error("internal", f"{type(exc).__name__}: {exc}")

    # ---- inbound ----
    async def _on_message(self, msg: dict) -> None:
        kind = msg["type"]
        if kind == "text" and len(msg["text"].strip()) > MAX_TEXT_CHARS:  # say so; never answer a cut text
            await self.send_error("text-too-long", f"A typed turn takes up to {MAX_TEXT_CHARS} characters; "
                                                   f"this one has {len(msg['text'].strip())}. It was not sent.")
            return
        if kind == "hello":
            if msg.get("protocol", P.PROTOCOL_VERSION) != P.PROTOCOL_VERSION:
                raise Closed(CLOSE_PROTOCOL, "protocol-version")
            if self.session is None or (msg.get("mode") and msg["mode"] != self.mode):
                await self._open_session(msg.get("mode"), msg.get("session_id"))
            else:
                await self.send(self.hello())
            return
        if kind == "ping":
            await self.send({"type": "pong", "id": msg.get("id"), "t": time.time()})
            return
        if kind == "mode":
            await self._open_session(msg["mode"], self.session_id)
            return
        session = await self._ensure_session()
        # start, text and interrupt cut a reply still going; the session says so with Interrupted (see _forward).
        if kind == "start":
            await session.push_to_talk(True)
        elif kind == "stop":
            await session.push_to_talk(False)
        elif kind == "text":
            await session.ask(msg["text"].strip())
        elif kind == "interrupt":
            await session.interrupt()

    async def _on_audio(self, frame: P.AudioFrame) -> None:
        session = await self._ensure_session()
        if len(frame.pcm):
            await session.feed(P.to_chunk(frame))

    # ---- session ----
    async def _ensure_session(self):
        if self.session is None:
            await self._open_session(None, None)
        return self.session

    async def _open_session(self, mode: str | None, session_id: str | None) -> None:
        await self._close_session()
        active = self.state.active_sessions
        sid = session_id if session_id and session_id not in active else uuid.uuid4().hex[:12]
        session = self.state.engines.new_session(sid, mode=mode)
        if inspect.isawaitable(session):
            session = await session
        self.session, self.session_id = session, sid
        self.mode = getattr(session, "mode", None) or mode or self.state.cfg.wake.mode
        active.add(sid)
        self.pump = asyncio.create_task(self._pump(session), name=f"penny-ws-{sid}")
        await self.send(self.hello())

    async def _close_session(self) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        self.state.active_sessions.discard(self.session_id)
        with contextlib.suppress(Exception):
            await session.close()
        if self.pump is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.pump), 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                self.pump.cancel()
        self.pump = None

    def hello(self) -> dict:
        e = self.state.engines
        tts = e.tts
        return {
            "type": "hello", "protocol": P.PROTOCOL_VERSION, "server": f"penny/{penny.__version__}",
            "session_id": self.session_id, "mode": self.mode, "modes": list(P.MODES),
            "audio": {"in": {"sample_rate": P.IN_RATE, "format": "s16le", "channels": 1},
                      "out": {"sample_rate": getattr(tts, "sample_rate", 22050), "format": "s16le", "channels": 1},
                      "header_bytes": P.HEADER_BYTES},
            "limits": {"max_frame_bytes": self.max_frame},
            "llm": self.state.llm_status(),
            "voice": {"engine": getattr(tts, "name", "tts"), "voice": getattr(tts, "voice", None)},
            "auth": self.state.guard.required,
        }

    # ---- outbound ----
    async def send(self, message: dict) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            return
        async with self.send_lock:
            await self.ws.send_json(message)

    async def send_error(self, code: str, message: str) -> None:
        self.state.metrics.errors.labels(code).inc()
        await self.send(P.error_message(code, message))

    async def send_bytes(self, data: bytes) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            return
        async with self.send_lock:
            await self.ws.send_bytes(data)

    async def _pump(self, session) -> None:
        try:
            async for event in session.events():
                await self._forward(event)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client went away
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event pump failed")

    async def _forward(self, event) -> None:
        m = self.state.metrics
        if isinstance(event, ev.ReplyAudio):  # never of a turn already Interrupted: the session drops those
            if event.turn_id != self.audio_turn:
                await self._end_audio(False)
                self.stream += 1
                self.audio_turn = event.turn_id
                await self.send({"type": "audio.start", "turn_id": event.turn_id, "stream": self.stream,
                                 "sample_rate": event.audio.sample_rate, "format": "s16le", "channels": 1})
            pcm = event.audio.as_int16()
            step = max(1, (min(self.max_frame, 64 * 1024) - P.HEADER_BYTES) // 2)
            for i in range(0, len(pcm), step):
                await self.send_bytes(P.pack_audio(P.KIND_REPLY, event.audio.sample_rate, self.stream,
                                                   pcm[i:i + step]))
            return
        if isinstance(event, (ev.ReplyDone, ev.Interrupted)):
            if event.turn_id == self.audio_turn:  # Interrupted: audio.stop now, then `interrupted`
                await self._end_audio(isinstance(event, ev.Interrupted) or event.interrupted)
        elif isinstance(event, ev.TurnTrace):
            m.observe_trace(event, "voice")
        elif isinstance(event, ev.BackendSwitched):
            m.backend_failures.labels(event.frm).inc()
        elif isinstance(event, ev.ErrorEvent):
            m.errors.labels(event.code).inc()
        message = P.event_message(event)
        if message is not None:
            await self.send(message)

    async def _end_audio(self, interrupted: bool) -> None:
        if self.audio_turn is None:
            return
        kind = "audio.stop" if interrupted else "audio.end"
        await self.send({"type": kind, "stream": self.stream, "turn_id": self.audio_turn})
        self.audio_turn = None
