"""The models Penny knows how to fetch, and where a pulled model lives on disk.

Cost figures are measurements (docs/models.md says how they were taken); None means
"not measured here", never a guess.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from penny.config import user_data_dir
from penny.errors import ModelNotFound

MANIFEST = "penny-model.json"  # written last: a folder without it is not a pulled model
WHISPER_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
DISTIL_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.json", "preprocessor_config.json")


@dataclass(frozen=True)
class Cost:
    """Measured on the machine named in docs/models.md; None = not measured here."""

    ram_mb: int | None = None  # resident memory the model adds once loaded
    first_token_ms: int | None = None  # LLM: time to the first token of a short answer
    tokens_per_s: float | None = None  # LLM: decoding speed
    stt_ms: int | None = None  # STT: latency for a 2-3 s request
    wer: float | None = None  # STT: word error rate on Penny's spoken-request corpus

    def describe(self) -> str:
        parts = [f"+{self.ram_mb} MB RAM" if self.ram_mb is not None else "",
                 f"{self.stt_ms} ms per request" if self.stt_ms is not None else "",
                 f"WER {self.wer:.1%}" if self.wer is not None else "",
                 f"first token {self.first_token_ms} ms" if self.first_token_ms is not None else "",
                 f"{self.tokens_per_s:g} tokens/s" if self.tokens_per_s is not None else ""]
        measured = ", ".join(p for p in parts if p)
        return f"measured: {measured}" if measured else "cost: not measured here"


@dataclass(frozen=True)
class CatalogModel:
    name: str
    kind: str  # "stt" or "llm"
    repo_id: str
    files: tuple[str, ...]
    size_mb: int  # approximate download size; the real size comes from the hub before downloading
    summary: str
    revision: str = "main"
    bundled: bool = False  # ships with Penny (a Python package); nothing to pull
    cost: Cost = Cost()

    @property
    def config_value(self) -> str:
        """What `penny models use` writes for a bundled model (stt.model name; '' = the default GGUF)."""
        return "tiny.en" if self.name == "whisper-tiny.en" else ""


CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel("whisper-tiny.en", "stt", "Systran/faster-whisper-tiny.en", WHISPER_FILES, 78,
                 "39M parameters, English only", bundled=True,
                 cost=Cost(ram_mb=209, stt_ms=110, wer=0.167)),
    CatalogModel("whisper-base.en", "stt", "Systran/faster-whisper-base.en", WHISPER_FILES, 148,
                 "74M parameters, English only"),
    CatalogModel("distil-whisper-small.en", "stt", "Systran/faster-distil-whisper-small.en", DISTIL_FILES, 336,
                 "Distil-Whisper small.en: distilled, English only"),
    CatalogModel("whisper-small.en", "stt", "Systran/faster-whisper-small.en", WHISPER_FILES, 487,
                 "244M parameters, English only"),
    # Multilingual: needed when assistant.language is not English (the .en models hear English only).
    CatalogModel("whisper-base", "stt", "Systran/faster-whisper-base", WHISPER_FILES, 145,
                 "74M parameters, multilingual (99 languages)"),
    CatalogModel("whisper-small", "stt", "Systran/faster-whisper-small", WHISPER_FILES, 484,
                 "244M parameters, multilingual (99 languages)"),
    CatalogModel("smollm2-135m", "llm", "", ("SmolLM2-135M-Instruct.Q4_1.gguf",), 98,
                 "135M parameters, 4-bit (Q4_1)", bundled=True,
                 cost=Cost(ram_mb=175, first_token_ms=58, tokens_per_s=103.2)),
    CatalogModel("qwen2.5-1.5b-instruct", "llm", "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
                 ("qwen2.5-1.5b-instruct-q4_k_m.gguf",), 1120, "1.5B parameters, 4-bit (Q4_K_M)"),
    CatalogModel("qwen2.5-3b-instruct", "llm", "Qwen/Qwen2.5-3B-Instruct-GGUF",
                 ("qwen2.5-3b-instruct-q4_k_m.gguf",), 2100, "3B parameters, 4-bit (Q4_K_M)"),
    CatalogModel("llama-3.2-3b-instruct", "llm", "bartowski/Llama-3.2-3B-Instruct-GGUF",
                 ("Llama-3.2-3B-Instruct-Q4_K_M.gguf",), 2020, "3B parameters, 4-bit (Q4_K_M), Llama 3.2 licence"),
)


def find(name: str) -> CatalogModel:
    key = name.strip().lower()
    for m in CATALOG:
        if m.name == key:
            return m
    raise ModelNotFound(f"'{name}' is not in Penny's model catalogue.",
                        hint="Known: " + ", ".join(m.name for m in CATALOG) + " (`penny models` lists them).")


def models_dir() -> Path:
    return user_data_dir() / "models"


def folder(model: CatalogModel) -> Path:
    return models_dir() / model.name


def is_pulled(model: CatalogModel) -> bool:
    return model.bundled or (folder(model) / MANIFEST).is_file()


def installed_path(model: CatalogModel) -> Path:
    """The folder (STT) or GGUF file (LLM) Penny loads; ModelNotFound with the pull command if absent."""
    if model.bundled:
        from penny import models as bundled

        return bundled.whisper_tiny_en() if model.kind == "stt" else bundled.smollm2_gguf()
    if not is_pulled(model):
        raise ModelNotFound(f"The model '{model.name}' has not been pulled yet.",
                            hint=f"Download it first: penny models pull {model.name}")
    base = folder(model)
    return base if model.kind == "stt" else base / model.files[0]


def manifest(model: CatalogModel) -> dict:
    """What the pull recorded (repo, commit, per-file sha256 and size); {} when not pulled."""
    try:
        return json.loads((folder(model) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def active_names(cfg) -> set[str]:
    """Catalogue names the config points at (to mark them in listings)."""
    stt = cfg.stt.model
    gguf = cfg.llm.embedded.model_path
    found = set()
    for m in CATALOG:
        if m.kind == "stt" and stt in (m.config_value or None, str(folder(m))):
            found.add(m.name)
        if m.kind == "llm" and (gguf is None if m.bundled else gguf == str(folder(m) / m.files[0])):
            found.add(m.name)
    return found


def listing() -> list[dict]:
    """The catalogue as plain data (for the API and the browser's model menu)."""
    return [{"name": m.name, "kind": m.kind, "size_mb": m.size_mb, "summary": m.summary,
             "bundled": m.bundled, "pulled": is_pulled(m)} for m in CATALOG]
