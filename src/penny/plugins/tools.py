"""LLM function calling: stream the model, run the tools it asks for, speak what they did.

    async for delta in run_tool_loop(llm, messages, registry, ledger=ledger):
        speak(delta.text)

Tools that only read (Tool.read_only) hand their result back to the model, which answers from it.
A round with any other tool ends the turn with the tools' own replies: an action is confirmed by
the code that did it, never by the model's retelling. `messages` is extended in place with the
assistant's tool_calls message and one `tool` message per call (OpenAI chat format); `ledger`
(core/claims.py) records every call and whether it succeeded, for the claims guard.
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, AsyncGenerator

from penny.core.events import LLMEvent, TextDelta, ToolCall

if TYPE_CHECKING:
    from penny.core.claims import Ledger
    from penny.core.contracts import LLM
    from penny.plugins.registry import PluginRegistry

log = logging.getLogger("penny.plugins.tools")


def _tool_message(call: ToolCall, text: str) -> dict:
    return {"role": "tool", "tool_call_id": call.id, "content": text}


def _assistant_message(text: str, calls: list[ToolCall]) -> dict:
    return {"role": "assistant", "content": text or None,
            "tool_calls": [{"id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments or "{}"}} for c in calls]}


async def run_tool_loop(llm: LLM, messages: list[dict], registry: PluginRegistry, max_rounds: int = 3, *,
                        session_id: str = "default", ledger: Ledger | None = None
                        ) -> AsyncGenerator[LLMEvent, None]:
    """Up to `max_rounds` rounds of tool calls, then a final answer without tools.

    Yields the LLM's TextDelta events (and passes through its other non-tool events). Pass the
    conversation's `session_id` so a confirmation a tool asks for is answered in that session.
    """
    tools = registry.tools() or None
    for round_no in range(max_rounds + 1):
        offer = tools if round_no < max_rounds else None
        calls: list[ToolCall] = []
        said: list[str] = []
        async for event in llm.stream(messages, tools=offer):
            if isinstance(event, ToolCall):
                calls.append(event)
                continue
            if isinstance(event, TextDelta):
                said.append(event.text)
            yield event  # text, and whatever else the LLM reports (e.g. BackendSwitched) passes through
        if not calls or offer is None:
            if calls:
                log.info("model asked for tools after the last round; ignoring %s", [c.name for c in calls])
            return
        messages.append(_assistant_message("".join(said), calls))
        replies: list[str] = []
        acted = False
        for call in calls:
            result = await registry.call_tool(call.name, call.arguments, session_id=session_id)
            if ledger is not None:
                ledger.record(result.plugin, call.name, result)
            acted = acted or not registry.tool_reads_only(call.name)
            replies.append(result.text)
            text = result.text
            if result.needs_confirmation:
                text = f"Not done yet: the user must confirm first. Ask them exactly this: {result.text}"
            elif result.data and len(json.dumps(result.data, default=str)) < 1500:
                text = f"{result.text}\n(data: {json.dumps(result.data, default=str)})"
            log.info("tool %s(%s) -> %s", call.name, call.arguments, result.text)
            messages.append(_tool_message(call, text))
        if acted:
            yield TextDelta((" " if said else "") + " ".join(replies))
            return
