"""The embedded model's chat template, read from its GGUF file, so Penny can build the raw prompt itself.

Used to continue a partial answer after the model crashed: the prompt is the conversation rendered the
way the model was trained, ending inside the assistant's turn with the words already said, and the model
simply goes on (a chat request with "please continue" makes a 135M model start its story over).
"""
from __future__ import annotations

import functools
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

from penny.adapters.llm.base import Message

log = logging.getLogger(__name__)
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_WANTED = ("tokenizer.chat_template", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id")


@dataclass(frozen=True)
class ChatTemplate:
    source: str
    bos: str = ""
    eos: str = ""

    def render(self, messages: list[Message], partial: str = "") -> str:
        """The prompt for `messages` up to the assistant's turn, followed by `partial` (its words so far)."""
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def fail(message):
            raise ValueError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        prompt = env.from_string(self.source).render(
            messages=messages, add_generation_prompt=True, bos_token=self.bos, eos_token=self.eos,
            raise_exception=fail)
        return prompt + partial

    @property
    def stop(self) -> list[str]:
        return list(dict.fromkeys(s for s in (self.eos, "<|im_end|>", "<|im_start|>") if s))


class _Reader:
    """Just enough of GGUF's key/value header. The `gguf` package's GGUFReader parses every field and
    tensor first (2.4 s for SmolLM2 here, against 0.1 s), too slow for recovering from a crash."""

    def __init__(self, f) -> None:
        self.f = f

    def unpack(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        data = self.f.read(size)
        if len(data) != size:
            raise ValueError("truncated GGUF header")
        return struct.unpack("<" + fmt, data)[0]

    def string(self) -> str:
        return self.f.read(self.unpack("Q")).decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool = True):
        if kind == 8:
            return self.string()
        if kind == 9:
            item, count = self.unpack("I"), self.unpack("Q")
            values = [self.value(item, keep) for _ in range(count)]
            return values if keep else None
        if kind not in _SCALARS:
            raise ValueError(f"unknown GGUF value type {kind}")
        return self.unpack(_SCALARS[kind])


@functools.lru_cache(maxsize=8)
def read_template(path: str) -> ChatTemplate | None:
    """The chat template of a GGUF model (None when it has none or the file cannot be read)."""
    try:
        with open(Path(path), "rb") as raw:
            import io

            r = _Reader(io.BufferedReader(raw, buffer_size=1 << 20))
            if r.f.read(4) != b"GGUF" or r.unpack("I") < 2:
                return None
            r.unpack("Q")  # tensor count
            found: dict[str, object] = {}
            tokens: list[str] = []
            for _ in range(r.unpack("Q")):
                key, kind = r.string(), r.unpack("I")
                value = r.value(kind, keep=key in _WANTED or key == "tokenizer.ggml.tokens")
                if key == "tokenizer.ggml.tokens":
                    tokens = value
                elif key in _WANTED:
                    found[key] = value
                if "tokenizer.chat_template" in found and tokens and len(found) == len(_WANTED):
                    break
    except (OSError, ValueError, struct.error) as exc:
        log.info("cannot read the chat template of %s: %s", path, exc)
        return None
    source = found.get("tokenizer.chat_template")
    if not isinstance(source, str):
        return None

    def token(key: str) -> str:
        i = found.get(key)
        return tokens[i] if isinstance(i, int) and 0 <= i < len(tokens) else ""

    return ChatTemplate(source, token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"))
