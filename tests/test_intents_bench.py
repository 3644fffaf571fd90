"""The intents benchmark's machinery on a tiny corpus: both routers, the scoring, the generators, the README."""
from __future__ import annotations

import re
import subprocess

import pytest

from benchmarks import intents_bench as bench
from benchmarks import intents_corpus as corpus
from benchmarks.intents_corpus import Item


def _old_commit_here() -> bool:
    return subprocess.run(["git", "cat-file", "-e", f"{bench.OLD_COMMIT}^{{commit}}"], cwd=bench.ROOT,
                          capture_output=True).returncode == 0


def test_scoring_counts_right_wrong_and_missed():
    items = [Item("a", ("clock.time",), "accuracy"), Item("b", ("clock.time",), "accuracy"),
             Item("c", ("timers.cancel", "timers.cancel_all"), "regex"), Item("d", (), "near_miss"),
             Item("e", (), "near_miss"), Item("f", ("notes.search",), "hassil")]
    got = ["clock.time", "clock.date", "timers.cancel_all", None, "notes.search", None]
    s = bench.score(items, [{"got": g, "ms": 1.0 + i} for i, g in enumerate(got)])
    assert s["all"] == {"n": 6, "right": 3, "wrong": 2, "missed": 1, "right_pct": 50.0}
    assert s["by_source"]["near_miss"] == {"n": 2, "right": 1, "wrong": 1, "missed": 0, "right_pct": 50.0}
    assert s["by_skill"]["clock"]["wrong"] == 1 and s["by_skill"]["notes"]["missed"] == 1
    assert s["first_call_ms"] == 1.0 and s["latency_ms"]["n"] == 5 and s["latency_ms"]["max"] == 6.0


@pytest.mark.skipif(not _old_commit_here(), reason=f"commit {bench.OLD_COMMIT} (the old router) is not in this clone")
def test_both_routers_on_a_tiny_corpus():
    items = [Item("What time is it?", ("clock.time",), "accuracy"),
             Item("what time did the titanic sink", (), "near_miss"),
             Item("Set a timer for ten minutes.", ("timers.set_timer",), "accuracy"),
             Item("what's the date", ("clock.time",), "accuracy"),  # labelled wrong on purpose: both "wrong"
             Item("blorp the snorf", ("clock.time",), "accuracy"),  # nothing matches: both "missed"
             Item("what is the wifi password", ("notes.search",), "accuracy")]  # a seeded note
    payload = bench.run(items=items, write=False)
    for router in ("old", "new"):
        assert payload[router]["all"] == {"n": 6, "right": 4, "wrong": 1, "missed": 1, "right_pct": 66.7} or \
            router == "new" and payload["broken_plugins"], (router, payload["items"])
    rows = {r["text"]: r for r in payload["items"]}
    assert rows["What time is it?"]["old"] == rows["What time is it?"]["new"] == "clock.time"
    assert rows["what's the date"]["old"] == "clock.date"
    assert payload["old"]["latency_ms"]["n"] == 5 and payload["new"]["first_call_ms"] is not None
    md = bench.markdown(payload)
    assert md.startswith("## Intents") and "| **all** | 66.7% (4/6) |" in md


def test_regex_sampler_makes_sentences_the_expression_matches():
    patterns = {"timers.set_timer": [r"(?:set|start) (?:a |an )?timer (?:for )?(?P<duration>.+?)"],
                "notes.search": [r"(?:where|what) (?:is|are) (?P<topic>.+)"],
                "timers.cancel": [r"cancel (?:(?P<all>all) )?(?:the |my )?(?P<kind>timer|reminder)s?"]}
    items = corpus.regex_items(patterns, seed=3)
    assert items and all(i.source == "regex" for i in items)
    for item in items:
        rx = patterns[item.rule][0]
        assert re.fullmatch(rx, item.text), item
        if item.rule == "notes.search":
            assert item.text.split(" ", 2)[2] in corpus.VALUES["topic"]
        if re.fullmatch(rx, item.text).group("all") if item.rule == "timers.cancel" else False:
            assert "timers.cancel_all" in item.expect


def test_hassil_sampler_fills_wildcards_and_ranges():
    from hassil import Intents

    intents = Intents.from_dict({"language": "en", "intents": {"PennyNoteSearch": {"data": [{"sentences": [
        "(where|what) is {topic}", "set a timer for {minutes} minutes"]}]}},
        "lists": {"topic": {"wildcard": True}, "minutes": {"range": {"from": 1, "to": 100}}}})
    items, info = corpus.hassil_items(intents, {"PennyNoteSearch": "notes.search"})
    texts = {i.text for i in items}
    assert "what is the wifi password" in texts and "where is the spare key" in texts
    said = {t.removeprefix("set a timer for ").removesuffix(" minutes") for t in texts if t.startswith("set")}
    allowed = {"1", "2", "5", "10", "15", "25", "45", "one", "two", "five", "ten", "fifteen", "twenty-five",
               "forty-five"}
    assert said <= allowed and len(said) == 4  # four numbers, as digits and as words
    assert any(s.isdigit() for s in said) and not all(s.isdigit() for s in said)
    assert all(i.expect == ("notes.search",) for i in items) and info["wildcards"]["topic"] == "the wifi password"


def test_dedupe_keeps_the_first_source_and_lists_conflicts():
    items, conflicts = corpus.dedupe([Item("What time is it?", ("clock.time",), "accuracy"),
                                      Item("what time is it", ("clock.time",), "hassil"),
                                      Item("What time is it", ("notes.search",), "regex")])
    assert [i.source for i in items] == ["accuracy"] and len(conflicts) == 1


def test_corpus_sizes():
    assert len(corpus.NEAR_MISSES) >= 60 and len(set(corpus.NEAR_MISSES)) == len(corpus.NEAR_MISSES)
    acc = corpus.accuracy_items()
    assert any(not i.expect for i in acc) and {"clock.time", "timers.set_timer"} <= {e for i in acc for e in i.expect}


def test_readme_section_goes_after_understanding(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Penny\n\nintro\n\n## Understanding\n\nu\n\n## Later\n\nl\n")
    bench.update_readme("## Intents\n\nfirst\n", readme)
    assert readme.read_text() == "# Penny\n\nintro\n\n## Understanding\n\nu\n\n## Intents\n\nfirst\n\n## Later\n\nl\n"
    bench.update_readme("## Intents\n\nsecond\n", readme)
    assert readme.read_text().count("## Intents") == 1 and "second" in readme.read_text()
    assert "first" not in readme.read_text()
