"""Notes: "remember that the wifi password is on the fridge", "what did I ask you to remember";
and the shopping and to-do lists kept beside them (lists.py): "add milk to my shopping list"."""
from __future__ import annotations

import uuid

from penny.plugins import lists
from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.speech import join_list, plural
from penny.plugins.store import JsonStore

_STOP = {"the", "a", "an", "my", "is", "are", "of", "to", "on", "in", "at", "where", "what", "i", "you", "whats",
         "wheres", "who", "whos", "when", "whens", "which", "how", "did", "do", "does", "was", "were", "put", "it",
         "day", "time", "out", "up", "off", "for", "with", "and", "or", "so", "now", "there", "this", "that", "be",
         "go", "goes", "going", "get", "will", "can", "sorry", "please", "has", "have", "had"}
# "which day does the recycling go out", "what time is the plumber coming"; "sorry, what time is it out"
# (a misheard "what time is it now") is no question about the recycling note.
# "remember when we went to paris", "remember to call mom": not something to note down.
_NOT_A_NOTE = {"what", "when", "how", "why", "who", "where", "if", "whether", "me", "to"}
_SWAP = {"my": "your", "i": "you", "me": "you", "mine": "yours", "im": "you're", "am": "are", "myself": "yourself",
         "our": "your", "we": "you"}


def _words(text: str) -> set[str]:
    return lists.content_words(text, _STOP)


def _alike(said: str, noted: str) -> bool:
    """The same word, or spelled nearly alike when longer: Whisper's "lend"/"lent", "square key"/"spare key"."""
    if said == noted:
        return True
    from rapidfuzz import fuzz

    return min(len(said), len(noted)) >= 4 and fuzz.ratio(said, noted) >= 70


def second_person(text: str) -> str:
    """'my keys are in the drawer' -> 'your keys are in the drawer'."""
    return " ".join(_SWAP.get(w.lower(), w) for w in text.split())


class NotesPlugin(Plugin):
    name = "notes"
    description = "Short notes the user asks Penny to remember, and a shopping list and a to-do list."
    keywords = ("note", "notes", "jot")
    examples = ("What did I ask you to remember?", "Read my notes.", "What's on my shopping list?",
                "What's on my to-do list?")

    def __init__(self, ctx):
        super().__init__(ctx)
        self.store = JsonStore(ctx.data_dir / "notes.json", {"notes": [], "lists": {}})

    def intents(self) -> list[Intent]:
        # Sentences: penny/intents/sentences/en/notes.yaml, and Home Assistant's list intents.
        # A note question or "forget that ..." reaches its handler only when a note holds the topic.
        has_note = lambda s: bool(self._find(s.get("topic", "")))  # noqa: E731
        return [
            Intent("forget_all", "PennyNoteForgetAll", self._forget_all),
            Intent("forget", "PennyNoteForget", self._forget, accept=has_note),
            Intent("recall", "PennyNoteRecall", self._recall, read_only=True),
            Intent("remember", "PennyNoteRemember", self._remember, accept=_is_note),
            Intent("search", "PennyNoteSearch", self._search, accept=has_note, fallback=True, read_only=True),
            # Same handler for the shopping list and a named list ("add eggs to my to-do list").
            Intent("list_add", "HassShoppingListAddItem", self._list_add),
            Intent("list_add", "HassListAddItem", self._list_add),
            Intent("list_remove", "HassShoppingListCompleteItem", self._list_remove),
            Intent("list_remove", "HassListCompleteItem", self._list_remove),
            Intent("list_remove", "HassListRemoveItem", self._list_remove),
            Intent("list_read", "PennyListRead", self._list_read, read_only=True),
            Intent("list_clear", "PennyListClear", self._list_clear),
        ]

    def tools(self) -> list[Tool]:
        which = {"type": "string", "enum": sorted(lists.LABELS), "description": "which list; default shopping"}
        return [
            Tool("remember_note", "Save a short note the user wants remembered.",
                 {"type": "object", "properties": {"text": {"type": "string", "description": "the note"}},
                  "required": ["text"]}, lambda a: self._remember({"note": str(a.get("text", ""))})),
            Tool("recall_notes", "Read back the user's saved notes, optionally only those about a topic.",
                 {"type": "object", "properties": {"topic": {"type": "string"}}},
                 lambda a: self._search(a) if a.get("topic") else self._recall(a), read_only=True),
            Tool("add_to_list", "Add an item to the user's shopping list or to-do list.",
                 {"type": "object", "properties": {"item": {"type": "string"}, "list": which},
                  "required": ["item"]},
                 lambda a: self._list_add({"item": str(a.get("item", "")), "name": a.get("list")})),
            Tool("read_list", "Read the user's shopping list or to-do list.",
                 {"type": "object", "properties": {"list": which}},
                 lambda a: self._list_read({"name": a.get("list")}), read_only=True),
        ]

    def undoer(self, intent: str, result: SkillResult):
        if intent == "remember" and "note" in result.data:
            gone = result.data["note"]["id"]
            return lambda: self._save_notes([n for n in self._notes() if n["id"] != gone])
        if intent == "list_add" and result.data.get("added"):
            name, ids = result.data["list"], {i["id"] for i in result.data["added"]}

            def take_off() -> None:
                doc = self.store.load()
                lists.remove(doc, name, ids)
                self.store.save(doc)
            return take_off
        return None

    def vocabulary(self) -> list[str]:
        doc = self.store.load()
        return [n["text"] for n in doc.get("notes", [])[-5:]] + [i["text"] for i in lists.items(doc, "shopping")[-5:]]

    def _notes(self) -> list[dict]:
        return self.store.load().get("notes", [])

    def _save_notes(self, notes: list[dict]) -> None:
        doc = self.store.load()
        self.store.save({**doc, "notes": notes})

    def _find(self, topic: str) -> list[dict]:
        """Notes holding every word of the topic, or most of a longer one (at least two words spelled as in
        the note). Words only spelled alike never make a match alone: "How many lands does this fighter have?"
        (a misheard spider question) shares "lands" with "Mom's flight lands on Saturday", and "fighter" looks
        like "flight"; so did "What's the capital of plans?"."""
        want = _words(topic)

        def about(note: dict) -> bool:
            has = _words(note["text"])
            exact = sum(w in has for w in want)
            common = sum(any(_alike(w, h) for h in has) for w in want)
            return exact >= 1 and (common == len(want) or (exact >= 2 and common >= 0.6 * len(want)))
        return [n for n in self._notes() if want and about(n)]

    async def _remember(self, slots: dict) -> SkillResult:
        text = slots.get("note", "").strip()
        if not text:
            return SkillResult("What should I remember?")
        notes = self._notes()
        note = {"id": uuid.uuid4().hex[:8], "text": text, "created": self.ctx.now().isoformat()}
        notes.append(note)
        self._save_notes(notes)
        return SkillResult(f"Okay, I'll remember that {second_person(text)}.", {"note": note})

    async def _recall(self, slots: dict) -> SkillResult:
        notes = self._notes()
        if not notes:
            return SkillResult("You haven't asked me to remember anything yet.", {"notes": []})
        said = [second_person(n["text"]) for n in notes[-5:]]
        head = "You asked me to remember" if len(notes) <= 5 else f"You have {plural(len(notes), 'note')}. The latest"
        sep = ": " if len(notes) <= 5 else " are: "
        return SkillResult(head + sep + join_list(said) + ".", {"notes": notes})

    async def _search(self, slots: dict) -> SkillResult:
        found = self._find(slots.get("topic", ""))
        if not found:
            return SkillResult("I don't have a note about that.", {"notes": []})
        return SkillResult("You told me " + join_list([second_person(n["text"]).rstrip(".") for n in found[-3:]]) + ".",
                           {"notes": found})

    async def _forget(self, slots: dict) -> SkillResult:
        gone = {n["id"] for n in self._find(slots["topic"])}
        self._save_notes([n for n in self._notes() if n["id"] not in gone])
        return SkillResult(f"Okay, I forgot {plural(len(gone), 'note')}.", {"deleted": sorted(gone)})

    async def _forget_all(self, slots: dict) -> SkillResult:
        count = len(self._notes())
        if not count:
            return SkillResult("You don't have any notes.", {"deleted": 0})
        self._save_notes([])
        return SkillResult(f"Done, I deleted {plural(count, 'note')}.", {"deleted": count})

    # ------------------------------------------------------------ lists

    async def _list_add(self, slots: dict) -> SkillResult:
        name, wanted = lists.list_name(slots.get("name")), lists.split_items(slots.get("item", ""))
        label = lists.LABELS[name]
        if not wanted:
            return SkillResult(f"What should I add to your {label}?", {"list": name})
        doc, added, already = self.store.load(), [], []
        for text in wanted:
            item, new = lists.add(doc, name, text, self.ctx.now().isoformat())
            (added if new else already).append(item)
        data = {"list": name, "added": added, "already": already}
        if not added:
            verb = "is" if len(already) == 1 else "are"
            return SkillResult(f"{join_list([i['text'] for i in already]).capitalize()} {verb} already on your "
                               f"{label}.", data)
        self.store.save(doc)
        text = f"Okay, I added {join_list([i['text'] for i in added])} to your {label}."
        if already:
            text += (f" {join_list([i['text'] for i in already]).capitalize()} "
                     f"{'was' if len(already) == 1 else 'were'} already on it.")
        return SkillResult(text, data)

    async def _list_remove(self, slots: dict) -> SkillResult:
        name = lists.list_name(slots.get("name"))
        label = lists.LABELS[name]
        doc, found, missing = self.store.load(), {}, []
        for text in lists.split_items(slots.get("item", "")):
            hits = lists.find(doc, name, text)
            found.update({i["id"]: i for i in hits})
            if not hits:
                missing.append(text)
        data = {"list": name, "removed": list(found.values()), "missing": missing}
        if not found:
            return SkillResult(f"I couldn't find {join_list(missing) or 'that'} on your {label}.", data)
        lists.remove(doc, name, set(found))
        self.store.save(doc)
        text = f"Okay, I took {join_list([i['text'] for i in found.values()])} off your {label}."
        if missing:
            text += f" I couldn't find {join_list(missing)} on it."
        return SkillResult(text, data)

    async def _list_read(self, slots: dict) -> SkillResult:
        name = lists.list_name(slots.get("name"))
        doc = self.store.load()
        return SkillResult(lists.spoken(doc, name), {"list": name, "items": lists.items(doc, name)})

    async def _list_clear(self, slots: dict) -> SkillResult:
        name = lists.list_name(slots.get("name"))
        doc = self.store.load()
        count = len(lists.items(doc, name))
        if not count:
            return SkillResult(f"Your {lists.LABELS[name]} is already empty.", {"list": name, "removed": 0})
        lists.remove(doc, name, {i["id"] for i in lists.items(doc, name)})
        self.store.save(doc)
        return SkillResult(f"Done, I cleared {plural(count, 'thing')} from your {lists.LABELS[name]}.",
                           {"list": name, "removed": count})


def _is_note(slots: dict) -> bool:
    words = slots.get("note", "").split()
    return bool(words) and words[0] not in _NOT_A_NOTE
