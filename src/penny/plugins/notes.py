"""Notes: "remember that the wifi password is on the fridge", "what did I ask you to remember"."""
from __future__ import annotations

import re
import uuid

from penny.plugins.base import Intent, Plugin, SkillResult, Tool
from penny.plugins.speech import join_list, plural
from penny.plugins.store import JsonStore

_REMEMBER = [r"(?:remember|note|make a note|take a note|write down|jot down)(?: that| of| this)?:? (?P<note>.+)"]
_RECALL = [
    r"what did i (?:ask|tell) you to (?:remember|note(?: down)?)",
    r"what (?:do you remember|notes do i have|are my notes|have i asked you to remember)",
    r"(?:read|list|show|tell)(?: me)? (?:all )?(?:of )?my notes",
    r"what(?:s| is) in my notes|my notes",
]
_SEARCH = [
    r"what did i (?:tell you|ask you to remember|say) about (?P<topic>.+)",
    r"(?:where|what|when|who) (?:is|are|was|were|s) (?P<topic>.+)",
    r"(?:wheres|whats|whos|whens) (?P<topic>.+)",
    r"what did i (?:write down|note(?: down)?|save|jot down) about (?P<topic>.+)",
    r"(?P<topic>(?:where|what|when|who|which|how)(?:s)? .+)",  # any question about a noted thing
]
_FORGET_ALL = [r"(?:forget|delete|clear|erase|remove) (?:all|everything|all of) (?:my |the )?notes",
               r"(?:forget|delete|clear|erase) (?:all )?my notes|forget everything i (?:told you|asked you to remember)"]
_FORGET = [r"(?:forget|delete|remove|erase) (?:the |my )?(?:note )?(?:about |that )(?P<topic>.+)"]
_STOP = {"the", "a", "an", "my", "is", "are", "of", "to", "on", "in", "at", "where", "what", "i", "you", "whats",
         "wheres", "who", "whos", "when", "whens", "which", "how", "did", "do", "does", "was", "were", "put", "it"}
_QUESTION = re.compile(r"^(?:what|when|how|why|who|where|if|whether|me|to)\b")
_SWAP = {"my": "your", "i": "you", "me": "you", "mine": "yours", "im": "you're", "am": "are", "myself": "yourself",
         "our": "your", "we": "you"}


def _words(text: str) -> set[str]:
    """Content words, plural 's' dropped; 'Wi-Fi' and 'wifi' are one word."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("wi-fi", "wifi").replace("wi fi", "wifi"))
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in words if w not in _STOP}


def second_person(text: str) -> str:
    """'my keys are in the drawer' -> 'your keys are in the drawer'."""
    return " ".join(_SWAP.get(w.lower(), w) for w in text.split())


class NotesPlugin(Plugin):
    name = "notes"
    description = "Short notes the user asks Penny to remember."
    keywords = ("note", "notes", "jot")
    examples = ("What did I ask you to remember?", "Read my notes.")

    def __init__(self, ctx):
        super().__init__(ctx)
        self.store = JsonStore(ctx.data_dir / "notes.json", {"notes": []})

    def intents(self) -> list[Intent]:
        return [
            Intent("forget_all", _FORGET_ALL, self._forget_all),
            Intent("forget", _FORGET, self._forget, accept=lambda s: bool(self._find(s["topic"]))),
            Intent("recall", _RECALL, self._recall, read_only=True),
            Intent("remember", _REMEMBER, self._remember, accept=lambda s: not _QUESTION.match(s["note"])),
            Intent("search", _SEARCH, self._search, accept=lambda s: bool(self._find(s["topic"])),
                   fallback=True, read_only=True),
        ]

    def tools(self) -> list[Tool]:
        return [
            Tool("remember_note", "Save a short note the user wants remembered.",
                 {"type": "object", "properties": {"text": {"type": "string", "description": "the note"}},
                  "required": ["text"]}, lambda a: self._remember({"note": str(a.get("text", ""))})),
            Tool("recall_notes", "Read back the user's saved notes, optionally only those about a topic.",
                 {"type": "object", "properties": {"topic": {"type": "string"}}},
                 lambda a: self._search(a) if a.get("topic") else self._recall(a), read_only=True),
        ]

    def vocabulary(self) -> list[str]:
        return [n["text"] for n in self._notes()[-5:]]

    def _notes(self) -> list[dict]:
        return self.store.load().get("notes", [])

    def _find(self, topic: str) -> list[dict]:
        """Notes holding every word of the topic, or most of a longer one (at least two words)."""
        want = _words(topic)

        def about(note: dict) -> bool:
            common = len(want & _words(note["text"]))
            return common == len(want) or (common >= 2 and common >= 0.6 * len(want))
        return [n for n in self._notes() if want and about(n)]

    async def _remember(self, slots: dict) -> SkillResult:
        text = slots.get("note", "").strip()
        if not text:
            return SkillResult("What should I remember?")
        notes = self._notes()
        note = {"id": uuid.uuid4().hex[:8], "text": text, "created": self.ctx.now().isoformat()}
        notes.append(note)
        self.store.save({"notes": notes})
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
        return SkillResult("You told me " + join_list([second_person(n["text"]) for n in found[-3:]]) + ".",
                           {"notes": found})

    async def _forget(self, slots: dict) -> SkillResult:
        gone = {n["id"] for n in self._find(slots["topic"])}
        self.store.save({"notes": [n for n in self._notes() if n["id"] not in gone]})
        return SkillResult(f"Okay, I forgot {plural(len(gone), 'note')}.", {"deleted": sorted(gone)})

    async def _forget_all(self, slots: dict) -> SkillResult:
        count = len(self._notes())
        if not count:
            return SkillResult("You don't have any notes.", {"deleted": 0})
        self.store.save({"notes": []})
        return SkillResult(f"Done, I deleted {plural(count, 'note')}.", {"deleted": count})
