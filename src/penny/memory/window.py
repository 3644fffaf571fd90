"""Which remembered turns go to the LLM: a window whose start stays put while the conversation grows.

LLM servers of the llama.cpp family reuse the longest common prefix of the previous prompt. A window
that drops its oldest turn on every new one changes the prompt's beginning each time, so the whole
history is read again on every turn (seconds on a small CPU). This window keeps its start until the
turns no longer fit, then drops the oldest ones at once, down to half the budget.
"""
from __future__ import annotations


def window_start(sizes: list[int], budget: int) -> int:
    """Index of the first turn to keep, given every turn's size (oldest first) and the size budget.
    Deterministic: computed from the whole conversation, so the same turns give the same start."""
    start, total = 0, 0
    for i, size in enumerate(sizes):
        total += size
        if total > budget:  # overflow: drop a block, keeping at most half the budget
            while start < i and total > budget // 2:
                total -= sizes[start]
                start += 1
            if total > budget:  # the newest turn alone does not fit
                total, start = 0, i + 1
    return start
