"""handle: a `transcript` (or `recognize`) -> `handled` / `not-handled`: Penny's assistant (skills, memory,
LLM chain) as a Home Assistant conversation agent.

One Penny conversation per Home Assistant conversation: the id comes from the request's context
(`conversation_id`) when there is one, else from the connection; it goes back in the answer's context,
so the next request continues it (memory, "Did you say ...?" follow-ups).
"""
from __future__ import annotations

import logging
import re

from wyoming.handle import Handled, NotHandled

from penny.core.events import ReplyDelta, ReplyDone
from penny.errors import PennyError

log = logging.getLogger(__name__)


def session_for(context: dict | None, connection_id: str) -> str:
    raw = (context or {}).get("conversation_id") if isinstance(context, dict) else None
    safe = re.sub(r"[^\w.:-]", "_", str(raw))[:64] if raw else connection_id
    return f"wyoming-{safe}"


async def answer(engines, text: str, context: dict | None, connection_id: str):
    """The assistant's whole reply to `text` as a Handled event (NotHandled when it has none)."""
    session = session_for(context, connection_id)
    out_context = {**(context if isinstance(context, dict) else {}),
                   "conversation_id": session.removeprefix("wyoming-")}
    if not text.strip():
        return NotHandled(text="I didn't hear anything.", context=out_context).event()
    parts: list[str] = []
    final = None
    try:
        async for ev in engines.assistant.reply(session, text):
            if isinstance(ev, ReplyDelta):
                parts.append(ev.text)
            elif isinstance(ev, ReplyDone):
                final = ev.text
    except PennyError as exc:
        log.warning("wyoming handle: %s", exc)
        return NotHandled(text=getattr(exc, "spoken", None) or str(exc), context=out_context).event()
    reply = (final if final is not None else "".join(parts)).strip()
    log.info("wyoming handle [%s]: %r -> %r", session, text, reply)
    if not reply:
        return NotHandled(text="Sorry, I have no answer to that.", context=out_context).event()
    return Handled(text=reply, context=out_context).event()
