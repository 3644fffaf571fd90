"""Penny's Wyoming services on one server (`wyoming.server.AsyncServer`): asr, tts, wake and handle share
the engines already loaded (one Whisper, one voice, one assistant), one handler per connection.

`penny wyoming` runs it alone; `penny serve` starts it beside the web server when wyoming.enabled.
"""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

from wyoming.server import AsyncServer, AsyncTcpServer

from penny.errors import ConfigError
from penny.wyoming.handler import PennyHandler
from penny.wyoming.info import build_info

log = logging.getLogger("penny.wyoming")
MAX_EVENT_BYTES = 4 * 2**20  # one event's data + payload; Home Assistant sends ~2 KiB audio chunks
BODY_TIMEOUT_S = 10.0  # after a header, its data and payload must arrive within this


class WyomingService:
    def __init__(self, engines, uri: str, *, zeroconf: bool = False, max_event_bytes: int = MAX_EVENT_BYTES,
                 body_timeout_s: float = BODY_TIMEOUT_S):
        self.engines = engines
        self.uri = uri
        self.zeroconf = zeroconf
        self.max_event_bytes, self.body_timeout_s = max_event_bytes, body_timeout_s
        try:
            self.server = AsyncServer.from_uri(uri)
        except ValueError as exc:
            raise ConfigError(f"wyoming.uri {uri!r}: {exc}.", hint="Use tcp://HOST:PORT, e.g. tcp://127.0.0.1:10300.") \
                from None
        self.info_event = build_info(engines).event()
        self._zeroconf = None

    def _handler(self, reader, writer) -> PennyHandler:
        return PennyHandler(reader, writer, self.engines, self.info_event, max_event_bytes=self.max_event_bytes,
                            body_timeout_s=self.body_timeout_s)

    @property
    def port(self) -> int | None:
        """The bound TCP port (the real one when the URI asked for port 0)."""
        inner = getattr(self.server, "_server", None)
        if inner is not None and inner.sockets:
            return inner.sockets[0].getsockname()[1]
        return getattr(self.server, "port", None)

    @property
    def connections(self) -> int:
        return len(self.server._handlers)

    async def start(self) -> "WyomingService":
        try:
            await self.server.start(self._handler)
        except OSError as exc:
            raise ConfigError(f"Cannot serve Wyoming on {self.uri}: {exc.strerror or exc}.",
                              hint="Another program may use the port; set wyoming.uri or --uri.") from None
        log.info("Wyoming services (asr, tts, wake, handle) on %s", self.uri.replace(":0", f":{self.port}"))
        if self.zeroconf:
            await self._announce()
        return self

    async def _announce(self) -> None:
        """mDNS `_wyoming._tcp` so Home Assistant offers the services by itself (wyoming.zeroconf; off by default)."""
        if not isinstance(self.server, AsyncTcpServer):
            log.warning("wyoming.zeroconf: only a tcp:// server can be announced")
            return
        try:
            from wyoming.zeroconf import HomeAssistantZeroconf
        except ImportError:
            log.warning("wyoming.zeroconf is on but the zeroconf package is missing: run `make setup` (it is pinned "
                        "in requirements.txt)")
            return
        host = urlparse(self.uri).hostname
        if host in ("127.0.0.1", "localhost", "::1"):
            log.warning("wyoming.zeroconf: %s is loopback, nobody else can reach it; bind 0.0.0.0 to be found", host)
            return
        self._zeroconf = HomeAssistantZeroconf(port=self.port, name="penny", host=None if host == "0.0.0.0" else host)
        await self._zeroconf.register_server()
        log.info("Wyoming services announced on the local network as 'penny' (zeroconf)")

    async def stop(self) -> None:
        await self.server.stop()
        if self._zeroconf is not None:
            await self._zeroconf._aiozc.async_close()
            self._zeroconf = None

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()


async def start_wyoming(cfg, engines) -> WyomingService:
    """For `penny serve`: the services on cfg.wyoming.uri, sharing the app's engines."""
    return await WyomingService(engines, cfg.wyoming.uri, zeroconf=cfg.wyoming.zeroconf).start()

