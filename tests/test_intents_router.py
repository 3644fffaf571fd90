"""The router's own machinery: the word prefilter never changes a result, readings are reused within a turn
but `accept` is asked every time, and a sentence costs little enough to route several times a turn."""
from __future__ import annotations

import random

from hassil import sample_intents

from fixtures_skills import make_registry


def test_the_word_prefilter_never_changes_what_matches(tmp_path):
    registry, _ = make_registry(tmp_path)
    router = registry.router
    samples = [text for _, text in sample_intents(router.library.intents, max_sentences_per_intent=40,
                                                  language="en", expand_ranges=False)]
    random.Random(7).shuffle(samples)
    samples = samples[:400] + ["what time did the titanic sink", "why is the sky blue", "tell me about timers"]
    with_filter = [registry.route(t) for t in samples]
    router._triggers, router._recent = None, {}  # every template tried, as plain hassil does
    assert [registry.route(t) for t in samples] == with_filter
    assert sum(m is not None for m in with_filter) > 300  # most samples are requests a skill takes


async def test_readings_are_reused_but_accept_is_asked_each_time(tmp_path):
    registry, _ = make_registry(tmp_path)
    assert registry.route("where is the wifi password") is None  # no such note: notes.search vetoes
    await registry.handle_text("s", "remember that the wifi password is on the fridge")
    assert registry.route("where is the wifi password").intent == "search"


def test_a_failing_complete_leaves_the_request_whole(tmp_path, caplog):
    """A plugin's `complete` that raises is logged; the request is taken as whole (answered, not held)."""
    from dataclasses import replace

    registry, _ = make_registry(tmp_path)
    router = registry.router

    def broken(slots: dict) -> bool:
        raise ValueError("broken")
    plugin, intent = router._by_sentences["PennyReminder"]
    router._by_sentences["PennyReminder"] = (plugin, replace(intent, complete=broken))
    match = registry.route("remind me to call mom")
    assert match is not None and match.intent == "reminder" and not match.half
    assert "complete() failed" in caplog.text
