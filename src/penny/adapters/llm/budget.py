"""What of a conversation fits the embedded model's context, chosen so llama.cpp's prompt cache stays valid.

llama.cpp reuses the longest common prefix of the previous prompt. Dropping the oldest turn on every
turn changes the prompt's start each time, so the whole conversation is read again (seconds per turn
on a small CPU). Here the cut point stays put while the kept history grows at its end; only when it no
longer fits is a whole block dropped at once (down to half the budget), and the new cut is remembered.
"""
from __future__ import annotations

from collections import OrderedDict

from penny.adapters.llm.base import Message

CHARS_PER_TOKEN = 3  # a conservative guess for English with small BPE vocabularies


def _size(messages: list[Message]) -> int:
    return sum(len(str(m.get("content") or "")) for m in messages)


def split(messages: list[Message]) -> tuple[list[Message], list[Message], list[Message]]:
    """(system prompt, history, this turn: the last message and the system notes just before it)."""
    head = list(messages[:1]) if messages and messages[0].get("role") == "system" else []
    rest = list(messages[len(head):])
    cut = len(rest) - 1
    while cut > 0 and rest[cut - 1].get("role") == "system":
        cut -= 1
    cut = max(cut, 0)
    return head, rest[:cut], rest[cut:]


def fit_context(messages: list[Message], n_ctx: int, max_tokens: int) -> list[Message]:
    """Drop the oldest turns (never the system prompt or the last message) so the prompt plus the
    answer fit a small n_ctx. Stateless: use PromptBudget to keep the prompt cache valid."""
    budget = max(n_ctx - max_tokens, n_ctx // 4) * CHARS_PER_TOKEN
    head = list(messages[:1]) if messages and messages[0].get("role") == "system" else []
    rest = list(messages[len(head):])
    while len(rest) > 1 and _size(head + rest) > budget:
        rest.pop(0)
    return head + rest


class PromptBudget:
    """Fits messages to n_ctx, cutting history at a remembered point (one per conversation)."""

    def __init__(self, n_ctx: int, max_tokens: int, history_tokens: int | None = None, keep: int = 64) -> None:
        self.chars = max(n_ctx - max_tokens, n_ctx // 4) * CHARS_PER_TOKEN
        self.history_chars = history_tokens * CHARS_PER_TOKEN if history_tokens else self.chars
        self.keep = keep
        self._cuts: OrderedDict[tuple[str, str], None] = OrderedDict()  # first kept exchange per conversation

    @staticmethod
    def _key(history: list[Message], i: int) -> tuple[str, str]:
        nxt = history[i + 1].get("content") if i + 1 < len(history) else ""
        return str(history[i].get("content") or ""), str(nxt or "")

    def fit(self, messages: list[Message]) -> list[Message]:
        head, history, turn = split(messages)
        room = min(self.chars - _size(head) - _size(turn), self.history_chars)
        if _size(history) <= room:
            return messages
        # A cut goes before a user message, or before the time note said with it.
        starts = [i - 1 if i and history[i - 1].get("role") == "system" else i
                  for i, m in enumerate(history) if m.get("role") == "user"] or list(range(len(history)))
        sizes = {i: _size(history[i:]) for i in starts}
        for i in starts:  # a cut made before, while what follows it still fits: keep the prompt's prefix
            if sizes[i] <= room and self._key(history, i) in self._cuts:
                self._cuts.move_to_end(self._key(history, i))
                return [*head, *history[i:], *turn]
        low = [i for i in starts if sizes[i] <= room // 2]
        if not low:
            return [*head, *turn]
        i = low[0]
        self._cuts[self._key(history, i)] = None
        while len(self._cuts) > self.keep:
            self._cuts.popitem(last=False)
        return [*head, *history[i:], *turn]
