"""The LLM capability: chat messages in, a stream of text deltas and tool calls out."""
from __future__ import annotations

from typing import AsyncIterator, Protocol, runtime_checkable

from penny.core.events import TextDelta, ToolCall

Message = dict  # OpenAI chat message: {"role": ..., "content": ...}


@runtime_checkable
class LLM(Protocol):
    name: str  # e.g. "lmstudio", "embedded"
    model: str
    supports_tools: bool

    def stream(self, messages: list[Message], tools: list[dict] | None = None
               ) -> AsyncIterator[TextDelta | ToolCall]: ...

    async def aclose(self) -> None: ...
