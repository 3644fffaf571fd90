"""The plugin interface: tools (for LLM function calling) and intents (for the hassil router).

A plugin is a class with a `name`, a list of `Tool`s and a list of `Intent`s. Handlers are async
and return a `SkillResult`: a short sentence to speak plus structured data for the web client.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol, runtime_checkable

from penny.core.events import Alert

log = logging.getLogger("penny.plugins")


@dataclass
class SkillResult:
    text: str
    data: dict = field(default_factory=dict)
    plugin: str = ""
    needs_confirmation: bool = False


@dataclass(frozen=True)
class IntentMatch:
    plugin: str
    intent: str
    slots: dict[str, str]
    text: str  # the normalised text that matched
    catch_all: bool = False  # only a catch-all intent took it ("what's a vet" -> a note that mentions the vet)
    open_end: bool = False  # the words end in a free slot (a note's text): more of it may follow a pause
    half: bool = False  # the intent's `complete` says a slot is still missing ("remind me to call mom in 4 of it")


Handler = Callable[[dict], Awaitable[SkillResult]]


@dataclass
class Tool:
    """One function the LLM may call. `parameters` is a JSON schema object."""

    name: str
    description: str
    parameters: dict
    handler: Handler
    read_only: bool = False  # only reads: its result goes back to the LLM; otherwise it is what Penny says

    def schema(self) -> dict:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


@dataclass
class Intent:
    """A handler reached by the sentences of one hassil intent (penny/intents/library.py).

    Slots arrive typed (penny/intents/slots.py). `accept(slots)` can veto a match (e.g. a topic with
    no note), so a template never hijacks an ordinary question.
    """

    name: str  # the plugin's own name for it ("set_timer")
    sentences: str  # the hassil intent whose templates reach it ("HassStartTimer")
    handler: Handler
    accept: Callable[[dict], bool] | None = None
    fallback: bool = False  # tried only after every plugin's ordinary intents
    # Only reads (the time, the calendar): safe to answer speculatively, before the user's turn has ended.
    read_only: bool = False
    # `complete(slots)` False: the request still lacks what it needs (a reminder with no time yet), so a pause
    # after it is held open for the rest rather than answered with "when?" while the user is still saying it.
    complete: Callable[[dict], bool] | None = None


# ---------------------------------------------------------------- clocks


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime: ...  # timezone-aware

    async def sleep_until(self, when: datetime) -> None: ...


class SystemClock:
    def __init__(self, tz: tzinfo | None = None):
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz).astimezone(self.tz) if self.tz else datetime.now().astimezone()

    async def sleep_until(self, when: datetime) -> None:
        # Short naps re-read the wall clock, so suspend/resume or a clock change cannot delay an alert long.
        while (delay := (when - self.now()).total_seconds()) > 0:
            await asyncio.sleep(min(delay, 15.0))


class ManualClock:
    """A clock that only moves when told to: `await clock.advance(minutes=10)`. For tests and demos."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start
        self._waiters: list[tuple[datetime, asyncio.Future]] = []

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        fut = asyncio.get_running_loop().create_future()
        entry = (when, fut)
        self._waiters.append(entry)
        try:
            await fut
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def advance(self, **delta: float) -> None:
        await self.set(self._now + timedelta(**delta))

    async def set(self, when: datetime) -> None:
        self._now = when
        for due, fut in list(self._waiters):
            if due <= when and not fut.done():
                fut.set_result(None)
        for _ in range(20):  # let woken tasks run to their next await
            await asyncio.sleep(0)


# ---------------------------------------------------------------- plugin


# The session (room) a skill handler is answering, set by the registry around each call: a timer
# remembers it so its alert is said in the room that set it.
current_session: contextvars.ContextVar[str] = contextvars.ContextVar("penny_session", default="")


@dataclass
class PluginContext:
    clock: Clock
    tz: tzinfo
    data_dir: Path
    emit_alert: Callable[[Alert], Awaitable[None]]
    settings: Any = None  # the plugin's config section (pydantic model or dict)

    def now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)


class Plugin:
    """Subclass this. Built-ins and third-party plugins (entry point group "penny.plugins") alike."""

    name: str = "plugin"
    description: str = ""
    # Words that name this plugin's subject ("timer"): an utterance with one that parses as no request
    # was probably misheard, and is confirmed before anything else answers it.
    keywords: tuple[str, ...] = ()
    # Whole requests that need no slots, as a user would say them: a transcript close to one of them but
    # parsing as nothing gets "Did you say: <example>?" (each must route to this plugin; a test checks).
    examples: tuple[str, ...] = ()

    def __init__(self, ctx: PluginContext):
        self.ctx = ctx

    def tools(self) -> list[Tool]:
        return []

    def intents(self) -> list[Intent]:
        return []

    def sentences(self, language: str) -> dict | None:
        """hassil templates for this plugin's own intents (a dict like a custom sentence file). Built-in
        plugins keep theirs in penny/intents/sentences/<language>/."""
        return None

    def vocabulary(self) -> list[str]:
        """Names the user is likely to say (event titles, note topics): they bias speech recognition."""
        return []

    async def start(self) -> None:
        """Called once the event loop runs (start schedulers here)."""

    async def confirm(self, action: dict) -> SkillResult:
        """Carry out an action this plugin asked the user to confirm (SkillResult.needs_confirmation)."""
        return SkillResult("Sorry, I can't do that.", plugin=self.name)

    def undoer(self, intent: str, result: SkillResult) -> Callable[[], None] | None:
        """How to take back what `intent` just did (`result`), for when the user turns out not to have
        finished ("take a note: buy batteries ... light bulbs"): the whole request is then done once
        (core/continuation.py). None: it can't be taken back, and such a turn is never redone."""
        return None

    async def aclose(self) -> None:
        """Stop background work."""
