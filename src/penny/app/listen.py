"""`penny listen`: the hands-free assistant on an audio source (microphone or file) and a sink."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from penny.config import PennyConfig
from penny.core.events import (Alert, BackendSwitched, ErrorEvent, Listening, ReplyDone, Transcript, TurnTrace,
                               WakeDetected)

log = logging.getLogger(__name__)


def describe(ev) -> str | None:
    """One terminal line for the events a person wants to see."""
    if isinstance(ev, Transcript) and ev.text:
        return f"You:   {ev.text}   ({ev.processing_s * 1000:.0f} ms to transcribe)"
    if isinstance(ev, WakeDetected):
        return f"(wake: {ev.name.replace('_', ' ')})"
    if isinstance(ev, Listening):
        if ev.open:
            return "-- listening to you" + (" (follow-up: no wake word needed)" if ev.reason == "follow_up" else "")
        return f"-- waiting for '{ev.wake_word or 'the wake word'}'"
    if isinstance(ev, ReplyDone):
        return f"Penny: {ev.text}" + ("   (interrupted)" if ev.interrupted else "")
    if isinstance(ev, TurnTrace):
        ms = ev.since()
        first = ms.get("first_audio")
        return f"       voice to first audio: {first:.0f} ms" if first is not None else None
    if isinstance(ev, Alert):
        return f"({ev.kind}) {ev.text}"
    if isinstance(ev, BackendSwitched):
        return f"({ev.frm} failed: {ev.reason}; {ev.to} continues)"
    if isinstance(ev, ErrorEvent):
        return f"(error {ev.code}: {ev.message})"
    return None


async def listen_loop(cfg: PennyConfig, source, sink, echo: Callable[[str], None]) -> int:
    """Run turns until the source ends (a file) or Ctrl-C (the microphone). Returns the turn count."""
    from penny.adapters.wake.factory import model_name
    from penny.app.engines import Engines

    engines = await Engines.load(cfg)
    session = engines.new_session(sink=sink)
    if hasattr(source, "device"):
        echo(f"Listening on {source.device.name} (mode {cfg.wake.mode}, wake {cfg.wake.engine}: "
             f"{', '.join(cfg.wake.phrases) if cfg.wake.engine == 'phrase' else model_name(cfg)}). Ctrl-C stops.")
        if getattr(source, "echo", None) is not None:
            echo("Echo cancellation: on (Penny's own voice is removed from the microphone).")
        elif sink is not None and not sink.echo_cancelled:
            echo("Echo cancellation: off (barge-in needs a confident voice while Penny speaks).")

    async def pump() -> None:
        try:
            async for frame in source.frames():
                await session.feed(frame)
                if not getattr(source, "realtime", True):
                    await session.wait_idle()  # faster than real time: take turns, don't barge in
            await session.end_of_input()
            await session.wait_idle()
        finally:
            await session.close()

    feeder = asyncio.create_task(pump())
    try:
        async for ev in session.events():
            line = describe(ev)
            if line:
                echo(line)
        await feeder
    finally:
        feeder.cancel()
        if sink is not None:
            await sink.close()
        await engines.aclose()
    return session.turns_done
