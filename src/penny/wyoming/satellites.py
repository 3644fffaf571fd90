"""All configured satellites (cfg.satellites), each on its own task: started and stopped by `penny serve`."""
from __future__ import annotations

import asyncio
import contextlib
import logging

from penny.wyoming.satellite_link import SatelliteLink, satellite_name

log = logging.getLogger(__name__)


class Satellites:
    def __init__(self, engines, configs):
        self.links: list[SatelliteLink] = []
        seen: set[str] = set()
        for sc in configs:
            name = base = satellite_name(sc.uri, sc.name)
            n = 2
            while name in seen:  # two satellites on one host: kitchen, kitchen-2
                name, n = f"{base}-{n}", n + 1
            seen.add(name)
            self.links.append(SatelliteLink(engines, sc.uri, name))
        self._tasks: list[asyncio.Task] = []

    def start(self) -> "Satellites":
        for link in self.links:
            self._tasks.append(asyncio.create_task(link.run(), name=f"penny-satellite-{link.name}"))
        if self.links:
            log.info("driving %d satellite(s): %s", len(self.links), ", ".join(l.name for l in self.links))
        return self

    async def stop(self) -> None:
        await asyncio.gather(*(link.pause() for link in self.links), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await asyncio.gather(*(link.stop() for link in self.links), return_exceptions=True)

    def status(self) -> list[dict]:
        return [link.status() for link in self.links]

    def get(self, name: str) -> SatelliteLink | None:
        return next((link for link in self.links if link.name == name), None)
