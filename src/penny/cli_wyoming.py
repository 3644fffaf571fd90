"""`penny wyoming`: Penny's speech-to-text, text-to-speech, wake word and assistant as Wyoming services,
for Home Assistant (Settings -> Devices & services -> Add integration -> Wyoming Protocol). docs/wyoming.md."""
from __future__ import annotations

import asyncio
from typing import Optional

import typer


def wyoming_command(
    uri: Optional[str] = typer.Option(None, "--uri", help="Where to listen (default wyoming.uri, "
                                      "tcp://127.0.0.1:10300; tcp://0.0.0.0:10300 for Home Assistant elsewhere)."),
    zeroconf: Optional[bool] = typer.Option(None, "--zeroconf/--no-zeroconf", help="Announce the services on the "
                                            "local network (default wyoming.zeroconf, off)."),
) -> None:
    """Serve asr, tts, wake and handle over the Wyoming protocol (models loaded once, shared by every connection)."""
    from penny.cli import cfg

    config = cfg()
    asyncio.run(_serve(config, uri or config.wyoming.uri,
                       config.wyoming.zeroconf if zeroconf is None else zeroconf))


async def _serve(config, uri: str, zeroconf: bool) -> None:
    from penny.app.engines import Engines
    from penny.wyoming.server import WyomingService

    engines = await Engines.load(config)
    try:
        service = WyomingService(engines, uri, zeroconf=zeroconf)
        await service.start()
        typer.echo(f"Penny's Wyoming services are ready on {uri.replace(':0', f':{service.port}')} "
                   "(asr, tts, wake, handle). Ctrl+C stops them.", err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await service.stop()
    finally:
        await engines.aclose()

