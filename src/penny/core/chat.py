"""`penny chat`: a text conversation with the LLM chain.

Streams the answer as it is generated, keeps the conversation, and shows which backend answered
and its first-token latency. One-shot (`penny chat "question"`) or a REPL with /commands.
"""
from __future__ import annotations

import asyncio
import sys
import time
from contextlib import aclosing
from typing import TextIO

from penny.adapters.llm.base import Message
from penny.config import PennyConfig
from penny.core.events import BackendSwitched, TextDelta, ToolCall
from penny.errors import PennyError

HELP = """Commands:
  /model NAME [BACKEND]  switch model (on BACKEND, or where NAME is listed)
  /models                list models per backend
  /reset                 forget the conversation
  /quit                  leave (also Ctrl-D)"""


def system_prompt(cfg: PennyConfig) -> str:
    a = cfg.assistant
    return a.system_prompt or (f"You are {a.name}, a {a.persona} voice assistant. "
                               "Reply in English, in one or two short sentences.")


class ChatSession:
    """A conversation: history trimmed to max_history_chars, one streamed answer per `ask`."""

    def __init__(self, llm, system: str, max_history_chars: int = 6000, out: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.llm = llm
        self.system = system
        self.max_history_chars = max_history_chars
        self.history: list[Message] = []
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def messages(self) -> list[Message]:
        kept, size = [], 0
        for m in reversed(self.history):
            size += len(m.get("content") or "")
            if kept and size > self.max_history_chars:
                break
            kept.append(m)
        return [{"role": "system", "content": self.system}, *reversed(kept)]

    async def ask(self, text: str) -> bool:
        """Stream one answer to `out`; a status line to `err`. False when no backend could answer."""
        self.history.append({"role": "user", "content": text})
        answer, start = "", time.perf_counter()
        try:
            async with aclosing(self.llm.stream(self.messages())) as events:  # Ctrl-C closes the request
                async for ev in events:
                    if isinstance(ev, TextDelta):
                        answer += ev.text
                        self.out.write(ev.text)
                        self.out.flush()
                    elif isinstance(ev, BackendSwitched):
                        self.err.write(f"\n[{ev.frm} failed ({ev.reason}); {ev.to} continues]\n")
                    elif isinstance(ev, ToolCall):
                        self.err.write(f"\n[tool call {ev.name}({ev.arguments}) — tools run in `penny listen`]\n")
        except PennyError as exc:
            self.history.pop()
            self.out.write(f"{exc.spoken}\n")
            self.err.write(f"[{exc.code}] {exc.message}\n")
            return False
        finally:
            if answer:
                self.history.append({"role": "assistant", "content": answer})
        ttft = getattr(self.llm, "last_first_token_s", None)
        ttft_txt = f"{ttft:.2f} s" if ttft is not None else "n/a"
        self.out.write("\n")
        self.err.write(f"[{self.llm.active.name} · {self.llm.active.model} · first token {ttft_txt} · "
                       f"total {time.perf_counter() - start:.2f} s]\n")
        self.err.flush()
        return True


def _models(runner: asyncio.Runner, llm, out: TextIO) -> None:
    for backend, names in runner.run(llm.list_models()).items():
        current = llm.backend(backend).model
        listed = ", ".join(f"*{n}" if n == current else n for n in names) or "(unreachable)"
        out.write(f"  {backend}: {listed}\n")


def _command(line: str, runner: asyncio.Runner, session: ChatSession) -> bool:
    """Handle a /command; False means quit."""
    parts = line.split()
    cmd, args = parts[0].lower(), parts[1:]
    if cmd in ("/quit", "/exit", "/q"):
        return False
    if cmd == "/reset":
        session.history.clear()
        session.err.write("[conversation cleared]\n")
    elif cmd == "/models":
        _models(runner, session.llm, session.err)
    elif cmd == "/model" and args:
        try:
            if len(args) == 1:  # find which backend lists it
                runner.run(session.llm.list_models())
            target = session.llm.set_model(args[0], backend=args[1] if len(args) > 1 else None)
            session.err.write(f"[now using {target.name} · {target.model}]\n")
        except PennyError as exc:
            session.err.write(f"[{exc.message}]\n")
    elif cmd == "/model":
        session.err.write(f"[{session.llm.active.name} · {session.llm.active.model}]\n")
    else:
        session.err.write(HELP + "\n")
    return True


def run_chat(cfg: PennyConfig, question: str | None = None, model: str | None = None,
             backend: str | None = None) -> int:
    """`penny chat`. Returns an exit code (1 when no backend could answer a one-shot question)."""
    from penny.adapters.llm.factory import build_llm

    llm = build_llm(cfg)
    session = ChatSession(llm, system_prompt(cfg), cfg.assistant.max_history_chars)
    with asyncio.Runner() as runner:
        try:
            if model:
                if backend is None:
                    runner.run(llm.list_models())
                llm.set_model(model, backend=backend)
            runner.run(llm.start())  # the embedded server starts now, not inside the first answer
            if question:
                return 0 if runner.run(session.ask(question)) else 1
            session.err.write(f"Chatting with {llm.name} ({llm.model}). /help for commands, Ctrl-D to quit.\n")
            while True:
                try:
                    line = input("you> ").strip()
                except EOFError:
                    session.err.write("\n")
                    return 0
                if not line:
                    continue
                if line.startswith("/"):
                    if not _command(line, runner, session):
                        return 0
                    continue
                try:
                    runner.run(session.ask(line))
                except KeyboardInterrupt:
                    session.out.write("\n")
                    session.err.write("[interrupted]\n")
        finally:
            runner.run(llm.aclose())
