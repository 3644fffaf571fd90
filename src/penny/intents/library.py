"""The sentence library for one language: which hassil templates reach which intent.

Three layers are merged in order; a later one adds sentences (and lists) to the same intent, as in
Home Assistant:
1. home-assistant-intents, the community's sentences, for the intents Penny's skills handle;
2. Penny's own templates in this package (sentences/<lang>/*.yaml), for what that library lacks;
3. the user's `custom_sentences/<lang>/*.yaml` in the config folder (Home Assistant's layout).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from hassil import Intents, merge_dict
from hassil.parse_expression import parse_sentence

from penny.intents.text import HESITATIONS
from penny.languages import base

log = logging.getLogger("penny.intents")

PACKAGE_SENTENCES = Path(__file__).parent / "sentences"
# Home Assistant's lists of devices, areas and floors: Penny has none, so sentences about them never match.
_EMPTY_LISTS = ("area", "name", "floor")
_LIST_REF = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


class SentenceError(ValueError):
    """A sentence file Penny can't use; `str()` names the file, the line and the fix."""


@dataclass
class Library:
    language: str
    intents: Intents
    # intent name -> where its sentences came from ("home-assistant-intents", "penny", a user file)
    sources: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # user files that were skipped, and why
    responses: dict[str, dict[str, str]] = field(default_factory=dict)  # intent -> response name -> template
    actions: dict[str, dict] = field(default_factory=dict)  # user intents -> what to do (custom.py)
    defined_lists: set[str] = field(default_factory=set)  # lists some file defines (others are empty)


def base_language(language: str) -> str:
    """'en-GB' -> 'en' when only 'en' has sentences; 'pt-BR' stays."""
    from home_assistant_intents import get_languages

    if language in get_languages() or (PACKAGE_SENTENCES / language).is_dir():
        return language
    from penny.languages import base

    return base(language)


def languages() -> list[str]:
    from home_assistant_intents import get_languages

    return sorted(set(get_languages()) | {p.name for p in PACKAGE_SENTENCES.iterdir() if p.is_dir()})


@lru_cache(maxsize=8)
def _home_assistant(language: str) -> dict:
    from home_assistant_intents import get_intents

    return get_intents(language) or {}


def read_file(path: Path) -> dict:
    """One sentence file, checked: a YAML or template error names the line and what to change."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SentenceError(f"{path}: can't read it ({exc}).") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SentenceError(f"{path}, {where}: not valid YAML ({problem}). Check the indentation and quotes "
                            "there; a sentence with a colon or a leading bracket needs quotes.") from None
    check(data, path, text)
    return data


def _line_of(text: str, needle: str) -> int | None:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    return None


def check(data: Any, path: Path | str, text: str = "") -> None:
    """The shape Home Assistant's custom sentence files have, with every template parsed."""
    def fail(msg: str, needle: str = "") -> None:
        line = _line_of(text, needle) if needle and text else None
        raise SentenceError(f"{path}{f', line {line}' if line else ''}: {msg}")

    if not isinstance(data, dict):
        fail("the file must be a mapping with 'language' and 'intents' keys.")
    intents = data.get("intents", {})
    if not isinstance(intents, dict):
        fail("'intents' must map intent names to {data: [{sentences: [...]}]}.", "intents")
    for name, intent in intents.items():
        blocks = intent.get("data") if isinstance(intent, dict) else None
        if not isinstance(blocks, list):
            fail(f"intent {name!r} needs a 'data' list: data: [{{sentences: [\"...\"]}}].", f"{name}:")
        for block in blocks:
            sentences = block.get("sentences") if isinstance(block, dict) else None
            if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
                fail(f"intent {name!r}: each data item needs 'sentences', a list of strings.", f"{name}:")
            for s in sentences:
                try:
                    parse_sentence(s)
                except Exception as exc:
                    fail(f"intent {name!r}: the template {s!r} does not parse ({exc}). Brackets [] mark "
                         "optional words, (a|b) alternatives, {name} a slot, <name> a rule.", s)
    for key in ("lists", "expansion_rules", "responses", "actions"):
        if key in data and not isinstance(data[key], dict):
            fail(f"'{key}' must be a mapping.", f"{key}:")
    for rule, template in (data.get("expansion_rules") or {}).items():
        try:
            parse_sentence(str(template))
        except Exception as exc:
            fail(f"expansion rule {rule!r} does not parse ({exc}).", f"{rule}:")


def _package_files(language: str) -> list[Path]:
    folder = PACKAGE_SENTENCES / language
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def _user_files(custom_dir: Path | None, language: str) -> list[Path]:
    folder = custom_dir / language if custom_dir else None
    return sorted(folder.glob("*.yaml")) if folder and folder.is_dir() else []


def _merge(into: dict, data: dict, origin: str, sources: dict[str, list[str]]) -> None:
    for name in (data.get("intents") or {}):
        sources.setdefault(name, []).append(origin)
    merge_dict(into, {k: v for k, v in data.items() if k not in ("language", "actions")})


def _missing_lists(data: dict) -> set[str]:
    """Slot lists referenced but defined nowhere (Home Assistant fills these from its devices)."""
    texts = [s for intent in data.get("intents", {}).values() for block in intent.get("data", [])
             for s in block.get("sentences", [])] + [str(r) for r in (data.get("expansion_rules") or {}).values()]
    used = {m.group(1) for t in texts for m in _LIST_REF.finditer(t)}
    return used - set(data.get("lists") or {})


def name_words(name: str) -> list[str]:
    """Ways a request starts with the assistant's name: "hey penny", "ok penny", "penny"."""
    name = name.strip().lower()
    return [f"{g} {name}" for g in ("hey", "hi", "ok", "okay")] + [name] if name else []


def load(language: str, wanted: set[str], custom_dir: Path | None = None,
         extra: list[tuple[str, dict]] = (), skip_words: list[str] = ()) -> Library:
    """The merged library; Home Assistant's intents are limited to `wanted` (those a skill handles)."""
    language = base_language(language)
    ha = _home_assistant(language)
    merged: dict = {"language": language, "intents": {}, "lists": {}, "expansion_rules": {}, "skip_words": []}
    sources: dict[str, list[str]] = {}
    ha_part = {**{k: v for k, v in ha.items() if k in ("lists", "expansion_rules", "skip_words")},
               "intents": {k: _without_commands(v) for k, v in (ha.get("intents") or {}).items() if k in wanted}}
    _merge(merged, ha_part, "home-assistant-intents", sources)
    responses = {k: v for k, v in ((ha.get("responses") or {}).get("intents") or {}).items() if k in wanted}
    actions: dict[str, dict] = {}
    for path in _package_files(language):
        _merge(merged, _only(read_file(path), wanted), f"penny:{path.name}", sources)
    for origin, data in extra:  # third-party plugins' own sentences
        _merge(merged, data, origin, sources)
    problems: list[str] = []
    for path in _user_files(custom_dir, language):
        try:
            data = read_file(path)
            defined = set(merged["intents"]) | set(data.get("intents") or {})
            check_actions(data.get("actions"), data.get("responses"), defined, str(path))
        except SentenceError as exc:
            log.warning("skipping custom sentences: %s", exc)
            problems.append(str(exc))
            continue
        _merge(merged, data, str(path), sources)
        for name, per_intent in ((data.get("responses") or {}).get("intents") or {}).items():
            responses.setdefault(name, {}).update(per_intent)
        actions.update(data.get("actions") or {})
    hesitations = sorted(HESITATIONS.get(base(language), ()))  # "um": nothing to match, as slots drop them too
    merged["skip_words"] = list(dict.fromkeys([*skip_words, *merged["skip_words"], *hesitations]))
    defined = set(merged["lists"])
    for name in _missing_lists(merged) | set(_EMPTY_LISTS):
        merged["lists"].setdefault(name, {"values": []})
    intents = Intents.from_dict(merged)
    return Library(language, intents, sources, problems, responses, actions, defined)


def _only(data: dict, wanted: set[str]) -> dict:
    """A package file's intents that an enabled skill handles (a disabled skill's sentences cost nothing)."""
    return {**data, "intents": {k: v for k, v in (data.get("intents") or {}).items() if k in wanted}}


def check_actions(actions, responses, intents: set[str], where: str) -> None:
    from penny.intents.custom import check_actions as check

    check(actions, responses, intents, where)


def _without_commands(intent: dict) -> dict:
    """Drop Home Assistant's "in 5 minutes turn off the lights" blocks: Penny can't run a command later."""
    data = [b for b in intent.get("data", []) if not str((b.get("metadata") or {}).get("slot_combination", ""))
            .startswith("command")]
    return {**intent, "data": data}


def check_user_file(path: Path, library: Library) -> str:
    """`penny intents check` for one file, against the rest of the library; a one-line summary if fine."""
    data = read_file(path)
    mine = data.get("intents") or {}
    check_actions(data.get("actions"), data.get("responses"), set(library.intents.intents) | set(mine), str(path))
    undefined = _missing_lists(data) - library.defined_lists - set(_EMPTY_LISTS)
    if undefined:
        name = sorted(undefined)[0]
        line = _line_of(path.read_text(encoding="utf-8"), "{" + name)
        raise SentenceError(f"{path}{f', line {line}' if line else ''}: the slot {{{name}}} has no list. Define it "
                            f"under lists: (e.g. {name}: {{wildcard: true}} for any words).")
    new = sorted(set(mine) - set(library.sources) | {n for n in mine if library.sources.get(n) == [str(path)]})
    templates = sum(len(b.get("sentences", [])) for i in mine.values() for b in i.get("data", []))
    return f"{len(mine)} intents, {templates} templates" + (f"; new intents: {', '.join(new)}" if new else "")
