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

from penny.config import PennyConfig
from penny.core.events import BackendSwitched, ReplyDelta, TurnTrace
from penny.errors import PennyError

HELP = """Commands:
  /model NAME [BACKEND]  switch model (on BACKEND, or where NAME is listed)
  /models                list models per backend
  /reset                 forget the conversation
  /quit                  leave (also Ctrl-D)"""


class ChatSession:
    """A typed conversation through the same Assistant as the voice loop: skills, memory, LLM chain."""

    def __init__(self, assistant, session_id: str = "chat", out: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.assistant = assistant
        self.llm = assistant.llm
        self.session_id = session_id
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    async def ask(self, text: str) -> bool:
        """Stream one answer to `out`; a status line to `err`. False when no backend could answer."""
        start = time.perf_counter()
        trace = TurnTrace("chat", self.session_id)
        async with aclosing(self.assistant.reply(self.session_id, text, trace=trace)) as events:
            async for ev in events:  # Ctrl-C closes the request (and the turn is kept, marked interrupted)
                if isinstance(ev, ReplyDelta):
                    self.out.write(ev.text)
                    self.out.flush()
                elif isinstance(ev, BackendSwitched):
                    self.err.write(f"\n[{ev.frm} failed ({ev.reason}); "
                                   + (f"{ev.to} continues]\n" if ev.to else "no backend could finish]\n"))
        self.out.write("\n")
        total = time.perf_counter() - start
        if trace.intent and trace.intent != "forget":
            self.err.write(f"[skill {trace.intent} · {total:.2f} s]\n")
        elif trace.backends.get("llm") == "unavailable":
            self.err.write("[no language model answered: run `penny doctor`]\n")
            return False
        elif trace.intent is None:
            ttft = getattr(self.llm, "last_first_token_s", None)
            ttft_txt = f"{ttft:.2f} s" if ttft is not None else "n/a"
            self.err.write(f"[{self.llm.active.name} · {self.llm.active.model} · first token {ttft_txt} · "
                           f"total {total:.2f} s]\n")
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
        session.assistant.memory.forget(session.session_id)
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
    from penny.config import memory_path
    from penny.core.assistant import Assistant
    from penny.memory.store import MemoryStore
    from penny.plugins.loading import build_plugins

    llm = build_llm(cfg)
    assistant = Assistant(cfg, llm, build_plugins(cfg), MemoryStore(memory_path(cfg)))
    session = ChatSession(assistant, session_id=f"chat-{time.strftime('%Y%m%d-%H%M%S')}")
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
            assistant.memory.close()
