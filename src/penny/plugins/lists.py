"""Shopping and to-do lists, kept in the notes store: add, read, cross off, clear.

The store document is {"notes": [...], "lists": {"shopping": [{"id", "text", "added"}], ...}}.
"""
from __future__ import annotations

import re
import uuid

from penny.plugins.speech import join_list, plural

LABELS = {"shopping": "shopping list", "todo": "to-do list"}
_ALIASES = {"grocery": "shopping", "groceries": "shopping", "to do": "todo", "to-do": "todo"}
_LEADING = {"some", "a", "an", "the", "more", "another"}
MAX_SPOKEN = 10


def list_name(value: object) -> str:
    """'groceries' -> 'shopping', 'to do list' -> 'todo'; no name is the shopping list."""
    name = str(value or "shopping").lower().removesuffix(" list").strip()
    name = _ALIASES.get(name, name)
    return name if name in LABELS else "shopping"


def item_text(text: str) -> str:
    """'some milk' -> 'milk'."""
    words = str(text or "").split()
    while len(words) > 1 and words[0].lower() in _LEADING:
        words = words[1:]
    return " ".join(words).strip()


def split_items(text: str) -> list[str]:
    """'eggs and bread' -> ['eggs', 'bread']: a spoken series is several items (so "mac and cheese" is two,
    which reads back the same)."""
    parts = re.split(r"\s*,\s*|\s+and\s+", str(text or ""))
    return list(dict.fromkeys(t for t in (item_text(p) for p in parts) if t))


def content_words(text: str, drop: set[str]) -> set[str]:
    """Words to compare by, plural 's' dropped ('eggs' finds 'egg'); 'Wi-Fi' and 'wifi' are one word."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("wi-fi", "wifi").replace("wi fi", "wifi"))
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words if w not in drop}


def _key(text: str) -> set[str]:
    return content_words(text, _LEADING)


def items(doc: dict, name: str) -> list[dict]:
    return (doc.get("lists") or {}).get(name, [])


def find(doc: dict, name: str, text: str) -> list[dict]:
    """The item named exactly (plural or not), else every item holding all the words said."""
    want = _key(item_text(text))
    if not want:
        return []
    exact = [i for i in items(doc, name) if _key(i["text"]) == want]
    return exact or [i for i in items(doc, name) if want <= _key(i["text"])]


def add(doc: dict, name: str, text: str, now_iso: str) -> tuple[dict, bool]:
    """(the item, whether it is new). An item already on the list is not added twice."""
    text = item_text(text)
    same = [i for i in items(doc, name) if _key(i["text"]) == _key(text)]
    if same:
        return same[0], False
    item = {"id": uuid.uuid4().hex[:8], "text": text, "added": now_iso}
    doc.setdefault("lists", {}).setdefault(name, []).append(item)
    return item, True


def remove(doc: dict, name: str, ids: set[str]) -> None:
    doc.setdefault("lists", {})[name] = [i for i in items(doc, name) if i["id"] not in ids]


def spoken(doc: dict, name: str) -> str:
    found = items(doc, name)
    label = LABELS[name]
    if not found:
        return f"Your {label} is empty."
    shown = [i["text"] for i in found[:MAX_SPOKEN]]
    more = len(found) - len(shown)
    tail = f", and {plural(more, 'more thing')}" if more else ""
    return f"You have {plural(len(found), 'thing')} on your {label}: {join_list(shown)}{tail}."
