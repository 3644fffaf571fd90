"""Text in, streamed reply out: commands, local skills first, then the LLM (with tools), memory kept.

The same Assistant serves `penny chat`, the voice loop and the web API.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, AsyncGenerator, AsyncIterator

from penny import languages
from penny.config import PennyConfig
from penny.core.claims import Ledger, guarded
from penny.core.contracts import LLM
from penny.core.events import (BackendSwitched, LLMServed, ReplyDelta, ReplyDone, TextDelta, Transcript,
                               TurnTrace)
from penny.core.hearing import Hearing
from penny.core.understanding import CERTAIN, Understanding, confidence, did_you_say, judge, split_name, states
from penny.errors import LLMUnavailable, PennyError
from penny.memory.store import MemoryStore, Turn
from penny.intents.conversation import start_over, yes_or_no
from penny.intents.answers import phrase
from penny.intents.custom import ASK_LLM
from penny.plugins.dates import mentions_when

if TYPE_CHECKING:
    from penny.plugins.registry import PluginRegistry

log = logging.getLogger(__name__)

CLARIFY_TTL_S = 60.0  # a "yes" much later than "Did you say ...?" confirms nothing


def time_note(t: float) -> dict:
    return {"role": "system", "content": f"It is now {time.strftime('%A %d %B %Y, %H:%M', time.localtime(t))}."}


async def _first_token(llm: LLM, messages: list[dict]) -> None:
    """Stream until the first words, then close: the server has read the whole prompt."""
    async with contextlib.aclosing(llm.stream(messages)) as events:
        async for ev in events:
            if isinstance(ev, TextDelta):
                break


def system_prompt(cfg: PennyConfig) -> str:
    a = cfg.assistant
    language = languages.reply_instruction(cfg)  # "" for English; otherwise it holds even with the user's own prompt
    if a.system_prompt:
        return f"{a.system_prompt} {language}".strip()
    return (
        f"You are {a.name}, a voice assistant. Your manner is {a.persona}. Your words are spoken aloud, so "
        "answer in one to three short sentences of plain speech: no markdown, no lists, no emoji, no code. "
        f"If you don't know, say so briefly. {language}"
    ).strip()


class Assistant:
    def __init__(self, cfg: PennyConfig, llm: LLM, plugins: PluginRegistry | None, memory: MemoryStore):
        self.cfg = cfg
        self.llm = llm
        self.plugins = plugins
        self.memory = memory
        self._clarify: dict[str, tuple[str, float]] = {}  # session -> (words asked about, when)
        self._reading: set[asyncio.Task] = set()  # next prompts being read ahead (prepare)
        self._read: dict[str, int] = {}  # session -> the prompt prefix last read ahead
        self.language = cfg.assistant.language
        self._english = languages.base(self.language) == "en"  # the time words of mentions_when are English
        self.hearing = Hearing(cfg, plugins)
        self.stt_prompt, self.rescore, self.best_reading = (
            self.hearing.stt_prompt, self.hearing.rescore, self.hearing.best_reading)

    def messages(self, session_id: str, text: str) -> list[dict]:
        # The time goes just before the question, and each remembered turn keeps the note it was asked
        # with: the prompt then only grows at its end, so llama.cpp-style servers re-read just the new
        # question instead of the last exchange too.
        history = self.memory.context(session_id, self.cfg.memory.max_history_chars, note=time_note)
        return [{"role": "system", "content": system_prompt(self.cfg)}, *history, time_note(time.time()),
                {"role": "user", "content": text}]

    def _parses(self, text: str) -> bool:
        return self.hearing.parses(text)

    def understand(self, session_id: str, command: str, transcript: Transcript,
                   rescored: bool = False) -> Understanding:
        """Act on `command`, confirm it, or ask to hear it again (see core/understanding.py)."""
        u = self.cfg.understanding
        if not u.enabled:
            return replace(CERTAIN, text=command)
        if self.expects_answer(session_id) and yes_or_no(command, self.language) is not None:
            return Understanding(command, "act", 1.0, True)  # the answer to a question Penny just asked
        match = self.plugins.route(command) if self.plugins is not None else None  # routed once for all below
        if match is None and self.plugins is not None:  # "Ten minutes." after "How long should the timer be?"
            joined = self.plugins.completed(session_id, command)
            match = self.plugins.route(joined) if joined is not None else None
        # "Take a note.": a request that names its action but lacks its words; Penny asks for them (registry.act)
        # rather than "Did you say: Take a note?", and the next words are the answer.
        lacking = match is None and self.plugins is not None and getattr(
            self.plugins.guess_action(command), "missing", None) is not None
        parses = match is not None or lacking
        read_only = parses and self.plugins is not None and self.plugins.read_only(session_id, command)
        score = confidence(transcript.avg_logprob, transcript.no_speech_prob, transcript.compression_ratio)
        near = self.plugins is not None and self.plugins.near_skill(command)
        # with no skills, a day or a time in the words is for the LLM (only skills' requests are misheard as such)
        timed = self.plugins is not None and not parses and self._english and mentions_when(command)
        stated = not parses and self._english and states(command)  # "They can know." ("take a note" misheard)
        heard = judge(command, score, parses, read_only=read_only, sure=u.sure, unsure=u.unsure, rescored=rescored,
                      near_skill=near, timed=timed, sure_statement=u.sure_statement if stated else None)
        if u.suggest and not parses and self.plugins is not None:
            meant = self.plugins.suggest(command)
            if meant is not None:  # words close to a request Penny knows, not an open question: ask about it
                return Understanding(meant, "confirm", score, True, rescored=True, unfinished=near)
        if match is None:
            return replace(heard, unfinished=True) if lacking else heard
        return replace(heard, open_end=heard.open_end or match.open_end, unfinished=heard.unfinished or match.half)

    def expects_answer(self, session_id: str) -> bool:
        if self._pending_clarification(session_id, pop=False) is not None:
            return True
        p = self.plugins
        return p is not None and (p.pending(session_id) is not None or p.pending("default") is not None)

    def _pending_clarification(self, session_id: str, pop: bool = True) -> str | None:
        entry = self._clarify.pop(session_id, None) if pop else self._clarify.get(session_id)
        if entry is None or time.monotonic() - entry[1] > CLARIFY_TTL_S:
            return None
        return entry[0]

    async def warm(self) -> None:
        """One short request at start-up: the model runs once, and llama.cpp-style servers keep the
        system prompt in their KV cache, so the first real turn only processes its new words."""
        try:
            await _first_token(self.llm, self.messages("", "Hello."))
        except PennyError as exc:
            log.warning("LLM warm-up failed: %s", exc)

    def prepare(self, session_id: str) -> None:
        """The user started talking (core/pipeline.py): the local model reads this session's next prompt up to
        its question while they speak, instead of after their words are heard. The last exchange is read
        then (in 16-turn conversations the first words came 100 ms sooner at the median), and a history
        window that moved on (memory/window.py, adapters/llm/budget.py) is read again whole (0.5-0.8 s on 2
        idle cores, ~2 s in the echo soak). Not after each reply: the next speech may be another session's
        (the turns benchmark's 2.2 s answers). Once per change of history; none before there is any."""
        backend = getattr(self.llm, "active", self.llm)  # not the chain: a failure here must not cool it down
        if not getattr(backend, "caches_prompt", False):  # a cloud API would bill the read, and keeps no state
            return
        messages = self.messages(session_id, "Hello.")
        if len(messages) <= 3:  # no history yet: the system prompt is read once and stays (warm)
            return
        key = hash(str(messages[:-2]))  # the system prompt and the history; not the time note
        if self._read.get(session_id) == key:
            return
        self._read.pop(session_id, None)
        self._read[session_id] = key
        if len(self._read) > 64:
            self._read.pop(next(iter(self._read)))
        task = asyncio.create_task(self._read_ahead(backend, messages))
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)

    async def aclose(self) -> None:
        """Stop reading ahead (before the LLM server stops)."""
        for task in list(self._reading):
            task.cancel()
        await asyncio.gather(*self._reading, return_exceptions=True)

    async def _read_ahead(self, llm: LLM, messages: list[dict]) -> None:
        try:
            await _first_token(llm, messages)
        except Exception as exc:  # the next turn reports a backend that is down
            log.debug("reading the next prompt ahead failed: %s", exc)

    async def reply(self, session_id: str, text: str, *, turn_id: str | None = None,
                    trace: TurnTrace | None = None, commit: asyncio.Event | None = None,
                    heard: Understanding | None = None
                    ) -> AsyncGenerator[ReplyDelta | ReplyDone | BackendSwitched, None]:
        """Stream the reply to one user turn; the turn is saved when it ends, interrupted or not.

        With `commit`, the turn is speculative until the event is set: the LLM may start, but nothing
        with side effects runs (skills, commands, tools) and nothing is saved if it never commits.
        `heard` says how sure the words are (a voice turn); None is a typed turn, taken as certain.
        """
        turn_id = turn_id or uuid.uuid4().hex[:8]
        trace = trace or TurnTrace(turn_id, session_id)
        asked_at = time.time()  # the turn's time is when it was asked: its note in later prompts says so
        parts: list[str] = []
        done = False
        try:
            async for delta in self._answer(session_id, text, trace, commit, heard or CERTAIN):
                if isinstance(delta, BackendSwitched):
                    yield delta
                    continue
                trace.mark("first_token")
                parts.append(delta)
                yield ReplyDelta(turn_id, delta)
            done = True
            # ReplyDone before the commit wait: a speculative turn can finish speaking-ready audio early.
            yield ReplyDone(turn_id, "".join(parts).strip())
            if commit is not None:
                await commit.wait()  # a reply ready before the end of turn counts once the turn ends
        finally:
            # Runs on completion, error and cancellation (barge-in): what was said stays in history.
            committed = commit is None or commit.is_set()
            if committed and text.strip() and trace.intent != "forget":
                self.memory.add_turn(Turn(session_id, turn_id, asked_at, text, "".join(parts).strip(),
                                          interrupted=not done, intent=trace.intent,
                                          backend=trace.backends.get("llm"), trace=trace.to_dict()))

    async def _answer(self, session_id: str, text: str, trace: TurnTrace, commit: asyncio.Event | None,
                      heard: Understanding) -> AsyncIterator[str | BackendSwitched]:
        if heard is not CERTAIN:
            trace.heard = {**trace.heard, **heard.to_trace()}  # best_reading may have noted the phrase book
        if commit is not None and (heard.action == "confirm" or self._has_side_effects(session_id, text)):
            await commit.wait()
        asked = self._pending_clarification(session_id)
        if asked is not None:
            answer = yes_or_no(text, self.language)
            if answer is True:
                text, heard = asked, CERTAIN  # the user confirmed the words: act on them
            elif answer is False:
                trace.intent = "clarify"
                yield phrase("say_again", self.language, "Okay. Please say it again.")
                return
        if heard.action == "repeat":
            trace.intent = "clarify"
            yield phrase("not_caught", self.language, "Sorry, I didn't catch that.")
            return
        if heard.action == "confirm":  # heard.text: the words heard, or the request they most likely meant
            self._clarify[session_id] = (heard.text or text, time.monotonic())
            trace.intent = "clarify"
            words = split_name(heard.text or text, self.cfg.assistant.name)[1] or heard.text or text  # not "Hey Penny"
            yield did_you_say(words, phrase("did_you_say", self.language, "Did you say: {words}?"))
            return
        if start_over(text, self.language):
            self.memory.forget(session_id)
            trace.intent = "forget"
            yield phrase("start_over", self.language, "Okay, let's start over.")
            return
        if self.plugins is not None:
            try:
                # A side-effect request the router missed is still done by code, never just claimed.
                result = await self.plugins.handle_text(session_id, text) or await self.plugins.act(session_id, text)
            except PennyError as exc:
                log.warning("skill failed: %s", exc)
                result = None
                trace.intent = "skill-error"
                yield exc.spoken
                return
            if result is not None and ASK_LLM in result.data:
                text = result.data[ASK_LLM]  # a user's intent that words a prompt for the LLM
            elif result is not None:
                trace.intent = result.plugin
                trace.backends["skill"] = result.plugin
                yield result.text
                return
        async for piece in self._llm(session_id, text, trace):
            yield piece

    def _uses_tools(self) -> bool:
        return bool(self.plugins is not None and self.llm.supports_tools and self.plugins.tools())

    def _has_side_effects(self, session_id: str, text: str) -> bool:
        """Would answering `text` change anything (a skill, a command, a tool call)?"""
        if start_over(text, self.language) or self._uses_tools() or self.expects_answer(session_id):
            return True
        p = self.plugins
        if p is None or p.read_only(session_id, text):
            return False  # the LLM, or a skill that only reads (the time, the calendar)
        return (p.route(text) is not None or p.guess_action(text) is not None or p.pending(session_id) is not None
                or p.pending("default") is not None or p.completed(session_id, text) is not None)

    async def _llm(self, session_id: str, text: str, trace: TurnTrace) -> AsyncIterator[str | BackendSwitched]:
        messages = self.messages(session_id, text)
        use_tools = self._uses_tools()
        done = Ledger()  # what tools really did this turn: the guard lets only those claims through
        try:
            if use_tools and self.plugins is not None:
                from penny.plugins.tools import run_tool_loop

                stream = run_tool_loop(self.llm, messages, self.plugins, session_id=session_id, ledger=done)
            else:
                stream = self.llm.stream(messages)
            stream = guarded(stream, done)
            # aclosing: a barge-in closes the HTTP stream now, not when the generator is collected.
            async with contextlib.aclosing(stream) as events:
                async for ev in events:
                    if isinstance(ev, TextDelta):
                        if ev.text:
                            yield ev.text
                    elif isinstance(ev, BackendSwitched):
                        yield ev
                    elif isinstance(ev, LLMServed):  # this turn's own backend, never the chain's shared one
                        trace.backends["llm"] = f"{ev.backend}:{ev.model}"
        except LLMUnavailable as exc:
            log.warning("no LLM answered: %s", exc)
            trace.backends["llm"] = "unavailable"
            yield exc.spoken
            return
