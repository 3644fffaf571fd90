"""The intents benchmark's corpus: labelled sentences for both routers (benchmarks/intents_bench.py).

Four sources, each item labelled with the "plugin.intent" names that may answer it, or none (must not match):
- accuracy: the accuracy corpus's requests (benchmarks/accuracy_requests.py), open questions and speech not
  addressed to Penny;
- hassil: sentences sampled from the new router's templates with hassil's own sampler;
- regex: sentences sampled from the old router's regular expressions (a small generator over re's parser);
- near_miss: ordinary questions and chat close to a skill's words.
A generated sentence is labelled by the rule that generated it. Slots get a few realistic values, the same
for both rule sets; the notes a note question needs are seeded (SEED_NOTES).
"""
from __future__ import annotations

import itertools
import logging
import random
import re
from dataclasses import dataclass

try:
    from re import _parser as sre  # the parser re itself uses (Python 3.11+)
except ImportError:  # Python 3.10
    import sre_parse as sre
ANY, ASSERT, ASSERT_NOT, AT, BRANCH, IN, LITERAL, MAX_REPEAT, MIN_REPEAT, NOT_LITERAL, RANGE, SUBPATTERN = (
    getattr(sre, n) for n in "ANY ASSERT ASSERT_NOT AT BRANCH IN LITERAL MAX_REPEAT MIN_REPEAT NOT_LITERAL RANGE "
    "SUBPATTERN".split())

from benchmarks.accuracy_requests import REAL_CLIPS, REQUESTS
from benchmarks.accuracy_requests import SEED_EVENTS
from benchmarks.accuracy_requests import SEED_NOTES as _ACCURACY_NOTES
from benchmarks.accuracy_scoring import TASK_INTENTS as _TASKS

SOURCES = ("accuracy", "hassil", "regex", "near_miss")
SEED_NOTES = ("The wifi password is on the fridge.",) + _ACCURACY_NOTES[1:]
# The accuracy benchmark's task -> the intents that do it; open questions and chat must not match.
TASK_INTENTS = {**_TASKS, "open": (), "ignore": ()}
PER_INTENT = 60  # generated sentences per intent and rule set, at most
PER_RULE = 6  # per template or regular expression

# Slot values, by slot (or regex group) name. Notes topics name a seeded note so a note question can match.
VALUES = {
    "duration": ["ten minutes", "5 minutes", "an hour and a half", "ninety seconds", "twenty five minutes", "2 hours"],
    "name": ["pasta", "tea", "laundry"],
    "day": ["today", "tomorrow", "friday", "this week", "the day after tomorrow", "next monday"],
    "at": ["six pm", "9 30 am", "noon", "seven in the morning"],
    "topic": ["the wifi password", "the spare key", "the recycling"],
    "note": ["the bike lock is in the garage", "i parked on level three", "the gate code is four five six one"],
    "title": ["lunch with sam", "dentist appointment", "team meeting"],
    "task": ["call mom", "water the plants", "take the chicken out"],
    "event": ["lunch with sam tomorrow at noon", "a haircut on friday at nine am", "team meeting today at four pm"],
    "reminder": ["to call mom in thirty minutes", "to water the plants at six pm", "in an hour to check the oven",
                 "about the laundry in forty five minutes"],
}
# A slot or group name -> which VALUES list fills it (first substring that fits).
_KINDS = (("duration", "duration"), ("day", "day"), ("date", "day"), ("topic", "topic"), ("query", "topic"),
          ("note", "note"), ("content", "note"), ("message", "note"), ("title", "title"), ("summary", "title"),
          ("what", "task"), ("task", "task"), ("name", "name"), ("at", "at"), ("time", "at"))
# Old regex groups whose meaning depends on the plugin, and tails after a literal word ("in" + "two hours").
_GROUPS = {("calendar", "when"): "day", ("calendar", "rest"): "event", ("calendar", "rest2"): "when_at",
           ("timers", "rest"): "reminder", ("timers", "when"): "when", ("timers", "name2"): "name"}
_AFTER = {"in": ["two hours", "ten minutes"], "at": ["six pm", "noon"], "on": ["friday"], "this": ["afternoon"],
          "tomorrow": ["at nine", "morning"], "tonight": ["at eight"], "to": ["call mom in thirty minutes"],
          "about": ["the laundry in an hour"], "that": ["the oven is on in twenty minutes"],
          "for": ["the dentist at three pm"]}
VALUES.update(when_at=["tomorrow at noon", "on friday at three pm"], message=VALUES["note"],
              when=["in two hours", "at six pm", "tomorrow at nine"], search_query=VALUES["topic"])
VALUES.update(reminder_when=VALUES["when"], rest=VALUES["reminder"], reminder_rest=VALUES["reminder"])
VALUES["shopping_list_item"] = VALUES["todo_list_item"] = VALUES["item"] = ["milk", "batteries", "paper towels"]
# The same request, one intent in one router and two in the other: cancelling every timer was a slot of
# timers.cancel ("all") and is timers.cancel_all now.
ALIASES = {"timers.cancel_all": ("timers.cancel",)}
# (the time's list, the text's list): when a template has both, the text comes without a time of its own.
# A list whose meaning depends on the intent: "when is my {event}" names an event the calendar has.
_BY_INTENT = {("PennyCalendarFind", "event"): [title.lower() for _, _, title in SEED_EVENTS[:3]]}
_APART = {("reminder_when", "reminder_rest"): ["to call mom", "to water the plants", "about the laundry"],
          ("at", "event"): ["lunch with sam tomorrow", "a haircut on friday"]}

NEAR_MISSES = (
    "what time did the titanic sink", "how do i set a timer on my phone", "whats the weather like on mars",
    "tell me about calendars", "remember when we went to paris", "what time zone is tokyo in",
    "who invented the calendar", "what is a timer", "how does a weather forecast work", "what day was i born",
    "what is the date of easter next year", "how long is a marathon", "how many hours are in a year",
    "why is the sky blue", "what does the word schedule mean", "do you remember your first day",
    "set the table please", "time flies when youre having fun", "whats the time complexity of quicksort",
    "note to self buy a better microphone", "what notes are in a c major chord", "play some music",
    "turn on the lights", "whats the best way to cook rice", "who was the first man on the moon",
    "how far away is the sun", "what is the weather channel", "can timers be used for cooking",
    "i hate it when my alarm goes off", "what happened on this day in history", "when was the calendar invented",
    "what did napoleon say about time", "whats a good name for a dog", "where is the eiffel tower",
    "who wrote the time machine", "how cold is the north pole", "what is the temperature of the sun",
    "is it true that bats are blind", "what rhymes with orange", "translate good morning into spanish",
    "how many days until christmas", "what year did world war two end", "read me a story",
    "tell me a joke", "what can you do", "how are you today", "what is your name", "sing a song",
    "what is the meaning of life", "how do i make pancakes", "add two and two", "what is five times seven",
    "spell necessary", "what does forecast mean", "are you a robot", "whats the capital of australia",
    "how tall is mount everest", "who is the president of france", "what is a leap year",
    "how do reminders work on an iphone", "what is a diary", "who keeps my calendar at work",
    "my timer app is broken", "the weather was lovely yesterday", "i wrote a note to my teacher",
    "what is the speed of light", "when do the clocks go back", "how many seconds in a minute",
    "whats on tv tonight", "whats on the menu today", "what is the time in new york", "set an alarm for seven am",
    "remind me what time the film starts", "what did i tell you about my mother", "where is my phone",
    "when is mothers day", "how long is the movie", "how much time do we have left in the game", "pause the movie",
    "stop the music", "cancel my subscription", "book a flight to paris", "what is a reminder", "is it raining men",
    "the timer is broken", "forget about it",
)


@dataclass(frozen=True)
class Item:
    text: str
    expect: tuple[str, ...]  # intents that may answer it; () = must not match
    source: str
    rule: str = ""  # what produced it: a task, a template, a regular expression


def accuracy_items() -> list[Item]:
    items = [Item(row[0], TASK_INTENTS[task], "accuracy", task) for task, rows in REQUESTS.items() for row in rows]
    return items + [Item(text, (), "accuracy", "ignore-real") for _, _, text in REAL_CLIPS]


def near_miss_items() -> list[Item]:
    return [Item(t, (), "near_miss", "near_miss") for t in NEAR_MISSES]


def values_for(name: str) -> list[str]:
    key = name.lower()
    if key in VALUES:
        return VALUES[key]
    for part, kind in _KINDS:
        if part in key:
            return VALUES[kind]
    return ["something"]


def hassil_items(intents, owners: dict[str, str], language: str = "en", seed: int = 0) -> tuple[list[Item], dict]:
    """Sample each claimed hassil intent's templates; `owners` maps hassil intent -> "plugin.intent"."""
    from hassil import TextSlotList as Text
    from hassil.intents import RangeSlotList, WildcardSlotList
    from hassil.sample import sample_sentence

    logging.getLogger("hassil").setLevel(logging.ERROR)  # "No values for list: area": Penny has no areas
    rng, items, info = random.Random(seed), [], {"skipped_context_blocks": 0, "wildcards": {}}
    for name, label in sorted(owners.items()):
        intent = intents.intents.get(name)
        if intent is None:
            continue
        got: list[str] = []
        for block in intent.data:
            if block.requires_context:  # Penny gives no device or area context: these never match
                info["skipped_context_blocks"] += 1
                continue
            lists = {**intents.slot_lists, **(block.slot_lists or {})}
            lists = {k: _filled(k, v, rng, info, RangeSlotList, WildcardSlotList, Text)
                     for k, v in lists.items()}
            lists.update({k: Text.from_strings(v) for (n, k), v in _BY_INTENT.items() if n == name})
            rules = {**intents.expansion_rules, **(block.expansion_rules or {})}
            for template in block.sentences:
                used = set(template.list_names(rules))
                apart = {k: Text.from_strings(v) for (time_list, k), v in _APART.items() if {time_list, k} <= used}
                try:
                    texts = list(itertools.islice(sample_sentence(template, {**lists, **apart}, rules,
                                                                  language=language), 400))
                except Exception as exc:  # a list or rule the sampler can't fill
                    info.setdefault("errors", []).append(f"{name}: {exc}")
                    continue
                got += rng.sample(texts, min(PER_RULE, len(texts)))
        got = list(dict.fromkeys(" ".join(t.split()) for t in got if t.strip() and not _CLUMSY.search(t)))
        for text in rng.sample(got, min(PER_INTENT, len(got))):
            items.append(Item(text, (label, *ALIASES.get(label, ())), "hassil", name))
    return items, info


def _filled(name, slot_list, rng, info, Range, Wildcard, Text):
    """A slot list with a few values: a range gives four numbers (digits and words), a wildcard real phrases."""
    if isinstance(slot_list, Wildcard):
        values = values_for(name)
        info["wildcards"][name] = values[0]
        return Text.from_strings(values)
    if isinstance(slot_list, Range):
        said = (1, 2, 3) if "hour" in name else (slot_list.start, 2, 5, 10, 15, 25, 45)
        numbers = sorted({n for n in said if slot_list.start <= n <= slot_list.stop})
        picked = rng.sample(numbers, min(4, len(numbers)))
        return Text.from_strings([_words(n) if i % 2 else str(n) for i, n in enumerate(picked)])
    return slot_list


def _words(n: int) -> str:
    from hassil.numbers import get_rbnf_engine

    result = get_rbnf_engine("en").format_number(n)
    return result.text_by_ruleset.get("spellout-numbering") or next(iter(result.text_by_ruleset.values()))


def regex_items(patterns: dict[str, list[str]], seed: int = 0) -> list[Item]:
    """Sample each old intent's expressions; `patterns` maps "plugin.intent" -> its regular expressions."""
    rng, items = random.Random(seed), []
    for label, rxs in sorted(patterns.items()):
        plugin = label.split(".")[0]
        got: list[str] = []
        for rx in rxs:
            compiled, parsed = re.compile(rx), sre.parse(rx)
            names = {v: k for k, v in parsed.state.groupdict.items()}
            found: set[tuple[str, bool]] = set()
            for _ in range(PER_RULE * 8):
                text = _sample(parsed, names, plugin, rng)
                m = compiled.fullmatch(text) if text else None
                if m and not _CLUMSY.search(text):
                    found.add((text, bool(m.groupdict().get("all"))))
                if len(found) >= PER_RULE:
                    break
            got += sorted(found)
        for text, every in rng.sample(got, min(PER_INTENT, len(got))):
            items.append(Item(text, (label, "timers.cancel_all") if every else (label,), "regex", label))
    return items


# A doubled word ("to to"), a wrong article ("an laundry") or a dangling last word ("the forecast for"):
# legal for the regex, said by no one.
_CLUMSY = re.compile(r"\b(\w+) \1\b|\ban (?!hour)[b-df-hj-np-tv-z]|\ba (?!one)[aeio]|"
                     r"\b(for|on|in|to|of|at|the|my|a|an)$")


def _sample(parsed, names: dict[int, str], plugin: str, rng: random.Random) -> str:
    out: list[str] = []
    _emit(list(parsed), names, plugin, rng, out, None)
    return " ".join("".join(out).split())


def _emit(seq, names, plugin, rng, out, group) -> None:
    for op, arg in seq:
        if op is LITERAL:
            out.append(chr(arg))
        elif op is NOT_LITERAL or op is ANY:
            out.append("x")
        elif op is IN:
            out.append(_char(arg, rng))
        elif op is BRANCH:
            _emit(list(rng.choice(arg[1])), names, plugin, rng, out, group)
        elif op is SUBPATTERN:
            _emit(list(arg[3]), names, plugin, rng, out, names.get(arg[0], group) if arg[0] else group)
        elif op in (MAX_REPEAT, MIN_REPEAT):
            low, high, body = arg
            body = list(body)
            if len(body) == 1 and body[0][0] in (ANY, IN) and high > 1:  # a free-text slot: a real phrase
                if low == 0 and rng.random() < 0.4:
                    continue
                out.append(_fill(plugin, group, "".join(out), rng, set(names.values())))
                continue
            for _ in range(rng.randint(low, min(high, low + 1))):
                _emit(body, names, plugin, rng, out, group)
        elif op in (AT, ASSERT, ASSERT_NOT):
            continue  # anchors and look-arounds: the full match at the end checks them


def _fill(plugin: str, group: str | None, before: str, rng: random.Random, groups: set[str]) -> str:
    words = before.split()
    if group is None:
        return "something"
    kind = _GROUPS.get((plugin, group), group)
    if kind == "event" and "rest2" in groups:  # "add {title} to my calendar {when}": the time comes apart
        kind = "title"
    if kind == "reminder" and "when" in groups:  # "in two hours remind me to {task}"
        return rng.choice(VALUES["task"]) + " " if words and words[-1] in ("to", "about", "that") \
            else f"to {rng.choice(VALUES['task'])} "
    tail = before and not before.endswith(" ")
    if words and before.endswith(" ") and words[-1] in _AFTER and kind in ("when", "reminder"):
        return rng.choice(_AFTER[words[-1]]) + " "
    value = rng.choice(values_for(kind))
    return (" " if tail else "") + value + " "


def _char(arg, rng: random.Random) -> str:
    for op, v in arg:
        if op is LITERAL:
            return chr(v)
        if op is RANGE:
            return chr(v[0])
    return "a"


def dedupe(items: list[Item]) -> tuple[list[Item], list[dict]]:
    """One item per text (lowercased, punctuation kept apart); the earlier source wins, conflicts are listed."""
    kept: dict[str, Item] = {}
    conflicts = []
    for item in items:
        key = " ".join(re.sub(r"[^\w' ]+", " ", item.text.lower()).split())
        first = kept.get(key)
        if first is None:
            kept[key] = item
        elif set(first.expect) != set(item.expect):
            conflicts.append({"text": item.text, "kept": [first.source, *first.expect],
                              "dropped": [item.source, *item.expect]})
    return list(kept.values()), conflicts
