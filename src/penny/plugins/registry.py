"""The plugin registry: builds enabled plugins, routes text, runs tools, confirms, streams alerts.

    registry = build_plugins(cfg)
    registry.start()                       # inside a running event loop: schedulers begin
    result = await registry.handle_text("session-1", "set a timer for ten minutes")
    async for alert in registry.alerts(): ...
    await registry.aclose()
"""
from __future__ import annotations

import asyncio
import difflib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Awaitable, Callable

from penny.core.claims import acted
from penny.core.events import Alert
from penny.plugins.base import Clock, IntentMatch, Plugin, SkillResult, Tool, \
    current_session
from penny.intents.answers import TOOL_INTENTS, localize, phrase
from penny.intents.conversation import yes_or_no
from penny.intents.phrases import PhraseBook
from penny.intents.router import IntentRouter
from penny.intents.text import normalize

log = logging.getLogger("penny.plugins")

PENDING_TTL = timedelta(minutes=5)  # a "yes" much later than the question confirms nothing
ASKED_TTL = timedelta(minutes=1)  # "ten minutes" long after "How long should the timer be?" sets nothing


@dataclass
class Pending:
    plugin: str
    action: dict
    question: str
    asked_at: datetime


class PluginRegistry:
    def __init__(self, plugins: list[Plugin], *, clock: Clock, tz: tzinfo, data_dir: Path, language: str = "en",
                 custom_dir: Path | None = None, name: str = "Penny"):
        self.plugins: dict[str, Plugin] = {p.name: p for p in plugins}
        self.clock, self.tz, self.data_dir, self.language = clock, tz, data_dir, language
        self.router = IntentRouter(plugins, self.now, language=language, custom_dir=custom_dir, name=name)
        self._tools: dict[str, tuple[Plugin, Tool]] = {}
        for p in plugins:
            for tool in p.tools():
                self._tools[tool.name] = (p, tool)
        self._pending: dict[str, Pending] = {}
        self._asked: dict[str, tuple[str, datetime]] = {}  # session -> (a request missing a part, when Penny asked)
        self._queues: set[asyncio.Queue] = set()
        self.on_alert: Callable[[Alert], Awaitable[None]] | None = None
        self._start_task: asyncio.Task | None = None
        self.phrases = PhraseBook(self.router.library, self.router.owned(), english=language.split("-")[0] == "en")

    def now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    # ------------------------------------------------------------ routing and handling

    def route(self, text: str) -> IntentMatch | None:
        return self.router.route(text)

    def read_only(self, session_id: str, text: str) -> bool:
        """Would handle_text(session_id, text) only read? (No pending question to answer, a read-only intent.)"""
        if self._pending.get(session_id) is not None or self._pending.get("default") is not None:
            return False
        match = self.route(text)
        intent = self.router.intent(match) if match is not None else None
        return intent is not None and intent.read_only

    async def handle(self, match: IntentMatch, *, session_id: str = "default") -> SkillResult:
        intent = self.router.intent(match)
        if intent is None:
            return SkillResult("Sorry, I don't know how to do that.", plugin=match.plugin)
        result = await self._run(match.plugin, intent.handler, match.slots, session_id)
        if match.half:  # Penny asks for the missing part: the next words may be the answer
            self._asked[session_id] = (match.text, self.clock.now())
        if not intent.read_only:
            acted(match.plugin, intent.name, result, self._undoer(match.plugin, intent.name, result))
        return self._remember(session_id, match.plugin, self._in_language(result, intent.sentences, match.slots))

    def _undoer(self, plugin_name: str, intent: str, result: SkillResult):
        plugin = self.plugins.get(plugin_name)
        try:
            return plugin.undoer(intent, result) if plugin is not None else None
        except Exception:
            log.exception("plugin %s: undoer() failed", plugin_name)
            return None

    def _in_language(self, result: SkillResult, sentences: str | None, said: dict | None = None) -> SkillResult:
        """The answer in assistant.language, from the matched intent's response template (intents/answers.py)."""
        lib = self.router.library
        return localize(result, sentences, lib.language, lib.responses, self.now(), said)

    async def handle_text(self, session_id: str, text: str) -> SkillResult | None:
        """Answer `text` if it is a skill request or a reply to a pending question; None: ask the LLM."""
        pending = self._pending.pop(session_id, None)
        if pending is None and session_id != "default":
            # A tool call made without a session id parks its question under "default".
            pending = self._pending.pop("default", None)
        if pending is not None and self.clock.now() - pending.asked_at > PENDING_TTL:
            pending = None
        if pending is not None:
            answer = yes_or_no(text, self.language)
            if answer is True:
                plugin = self.plugins.get(pending.plugin)
                if plugin is not None:
                    result = await self._run(pending.plugin, lambda _: plugin.confirm(pending.action), {}, session_id)
                    acted(pending.plugin, "confirm", result)
                    return result
            if answer is False:
                return SkillResult(phrase("declined", self.router.library.language, "Okay, I won't."),
                                   {"cancelled": pending.action}, pending.plugin)
            # Anything else drops the question and is handled as a new request.
        joined = self.completed(session_id, text)
        asked = self._asked.pop(session_id, None)  # answered, or the user moved on
        if joined is not None and asked is not None:
            log.info("%r answers what %r lacked", text, asked[0])
            text = joined
        match = self.route(text)
        if match is None:
            return None
        return await self.handle(match, session_id=session_id)

    def completed(self, session_id: str, text: str) -> str | None:
        """`text` as the answer to what Penny just asked a request for ("How long should the timer be?" -
        "Ten minutes."): the request and the answer as one, when together they are a whole request and the
        answer alone is none."""
        asked = self._asked.get(session_id)
        if asked is None or self.clock.now() - asked[1] > ASKED_TTL or self._whole(text):
            return None
        joined = f"{asked[0].rstrip(' .?!')} {text.strip()}"
        return joined if self._whole(joined) else None

    def _whole(self, text: str) -> bool:
        match = self.route(text)
        return match is not None and not match.half

    def near_skill(self, text: str) -> bool:
        """Does `text` name a skill's subject ("timer", "calendar")?"""
        words = set(re.findall(r"[a-z]+", text.lower()))
        return any(words & set(p.keywords) for p in self.plugins.values())

    def suggest(self, text: str, at_least: float = 0.7) -> str | None:
        """The plugins' example request closest to `text` (word-level similarity), when close enough:
        what a misheard or unusually worded request most likely meant."""
        words = normalize(text).split()
        best, score = None, at_least
        for plugin in self.plugins.values():
            for example in plugin.examples:
                s = difflib.SequenceMatcher(None, words, normalize(example).split()).ratio()
                if s > score or (s == score and best is None):  # ties: the earlier, more common example
                    best, score = example, s
        return best

    async def near_requests(self, text: str, limit: int = 4, closely: bool = False) -> list[str]:
        """Requests of the phrase book spelled most like `text` that parse now (`closely`: not only through a
        catch-all), closest first. The search (10-20 ms) runs in a thread: the event loop keeps serving audio
        and barge-in."""
        near = await asyncio.to_thread(self.phrases.near, text, limit * 3)
        routes = [(s, self.route(s)) for s in near]
        return [s for s, m in routes if m is not None and not (closely and m.catch_all)][:limit]

    def vocabulary(self) -> list[str]:
        words: list[str] = []
        for plugin in self.plugins.values():
            try:
                words += plugin.vocabulary()
            except Exception:
                log.exception("plugin %s: vocabulary() failed", plugin.name)
        return list(dict.fromkeys(w.strip() for w in words if w and w.strip()))

    def pending(self, session_id: str) -> Pending | None:
        return self._pending.get(session_id)

    # ------------------------------------------------------------ tools

    def tools(self) -> list[dict]:
        return [tool.schema() for _, tool in self._tools.values()]

    def tool_reads_only(self, name: str) -> bool:
        """An unknown tool did nothing, so it counts as reading (the LLM gets the error and may retry)."""
        return name not in self._tools or self._tools[name][1].read_only

    def guess_action(self, text: str):
        """The tool call a request the router missed clearly asks for (plugins/actions.py), or None."""
        from penny.plugins.actions import guess

        found = guess(text, self.clock.now().astimezone(self.tz))
        return found if found is not None and found.tool in self._tools else None

    async def act(self, session_id: str, text: str) -> SkillResult | None:
        """Carry out what guess_action finds; its reply is the tool's own (or a question for a missing slot)."""
        found = self.guess_action(text)
        if found is None:
            return None
        log.info("router missed %r; guessed %s(%s)", text, found.tool, found.args)
        if found.missing:
            self._asked[session_id] = (text, self.clock.now())
            return SkillResult(found.missing, {"error": "missing-slot", "tool": found.tool},
                               self._tools[found.tool][0].name)
        return await self.call_tool(found.tool, found.args, session_id=session_id)

    async def call_tool(self, name: str, arguments_json: str | dict | None, *,
                        session_id: str = "default") -> SkillResult:
        if name not in self._tools:
            known = ", ".join(sorted(self._tools)) or "none"
            return SkillResult(f"There is no tool called {name}. The tools are: {known}.",
                               {"error": "unknown-tool"}, "")
        plugin, tool = self._tools[name]
        if isinstance(arguments_json, dict):
            args = arguments_json
        else:
            try:
                args = json.loads(arguments_json or "{}")
            except (TypeError, ValueError) as exc:
                return SkillResult(f"The arguments for {name} were not valid JSON ({exc}). "
                                   f"Send a JSON object matching the tool's parameters.",
                                   {"error": "bad-arguments"}, plugin.name)
            if args is None:
                args = {}
        if not isinstance(args, dict):
            return SkillResult(f"The arguments for {name} must be a JSON object.", {"error": "bad-arguments"},
                               plugin.name)
        result = await self._run(plugin.name, tool.handler, args, session_id)
        if not tool.read_only:
            acted(plugin.name, name, result)
        if name in TOOL_INTENTS:  # what Penny says itself; a read-only result goes to the LLM as it is
            result = self._in_language(result, TOOL_INTENTS[name])
        return self._remember(session_id, plugin.name, result)

    # ------------------------------------------------------------ shared plumbing

    async def _run(self, plugin_name: str, handler, args: dict, session_id: str = "") -> SkillResult:
        token = current_session.set(session_id if session_id != "default" else "")
        try:
            result = await handler(args)
        except Exception:
            log.exception("plugin %s failed on %s", plugin_name, args)
            result = SkillResult("Sorry, that didn't work. Something went wrong in my "
                                 f"{plugin_name} skill.", {"error": "plugin-failed"})
        finally:
            current_session.reset(token)
        result.plugin = result.plugin or plugin_name
        return result

    def _remember(self, session_id: str, plugin: str, result: SkillResult) -> SkillResult:
        if result.needs_confirmation and "action" in result.data:
            self._pending[session_id] = Pending(plugin, result.data["action"], result.text, self.clock.now())
        return result

    # ------------------------------------------------------------ alerts

    def alerts(self) -> "AlertStream":
        """Every alert from this call on (subscribed at once, not at the first `anext`)."""
        return AlertStream(self._queues)

    async def emit_alert(self, alert: Alert) -> None:
        log.info("alert: %s", alert.text)
        for queue in list(self._queues):
            queue.put_nowait(alert)
        if self.on_alert is not None:
            try:
                await self.on_alert(alert)
            except Exception:
                log.exception("on_alert callback failed")

    # ------------------------------------------------------------ lifecycle

    def start(self) -> asyncio.Task:
        """Start plugin schedulers. Call inside a running loop; awaiting the result is optional."""
        if self._start_task is None:
            self._start_task = asyncio.get_running_loop().create_task(self._start_all())
        return self._start_task

    async def _start_all(self) -> None:
        from penny.plugins.dates import warm_up

        warming = asyncio.ensure_future(asyncio.to_thread(warm_up))  # keeps a first slow parse off the loop
        warming.add_done_callback(lambda t: t.cancelled() or t.exception())
        for plugin in self.plugins.values():
            try:
                await plugin.start()
            except Exception:
                log.exception("plugin %s failed to start", plugin.name)

    async def aclose(self) -> None:
        if self._start_task is not None and not self._start_task.done():
            self._start_task.cancel()
        for plugin in self.plugins.values():
            try:
                await plugin.aclose()
            except Exception:
                log.exception("plugin %s failed to stop", plugin.name)
        self._start_task = None


class AlertStream:
    """`async for alert in registry.alerts()`; `await stream.aclose()` (or dropping the stream) unsubscribes."""

    def __init__(self, queues: set):
        self._queues = queues
        self._queue: asyncio.Queue = asyncio.Queue()
        queues.add(self._queue)

    def __aiter__(self) -> "AlertStream":
        return self

    async def __anext__(self) -> Alert:
        if self._queue not in self._queues:
            raise StopAsyncIteration
        return await self._queue.get()

    async def aclose(self) -> None:
        self._queues.discard(self._queue)

    def __del__(self) -> None:
        self._queues.discard(self._queue)
