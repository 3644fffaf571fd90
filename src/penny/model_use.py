"""`penny models use`: point penny_config.json at a pulled (or bundled) catalogue model.

Only the one key changes (`stt.model` or `llm.embedded.model_path`); the file is validated
before it is replaced atomically, so a crash never leaves half a config.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import os
import struct
from pathlib import Path

from penny.catalog import CatalogModel, installed_path, models_dir
from penny.config import CONFIG_NAME, find_config_file, parse_config, user_config_dir
from penny.errors import ConfigError, ModelNotFound, PennyError
from penny.plugins.store import atomic_write

ENV_KEYS = {"stt": "PENNY_STT__MODEL", "llm": "PENNY_LLM__EMBEDDED__MODEL_PATH"}


def config_target(explicit: str | None = None) -> Path:
    """The file Penny reads now, or the user config file when it runs on built-in defaults."""
    return find_config_file(explicit) or user_config_dir() / CONFIG_NAME


def _section(data: dict, *keys: str) -> dict:
    node = data
    for key in keys:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"'{'.'.join(keys)}' in the config is not a section; fix it by hand first.")
    return node


def apply(data: dict, model: CatalogModel) -> None:
    """Set the one key that selects this model (bundled models: the built-in default)."""
    if model.kind == "stt":
        _section(data, "stt")["model"] = model.config_value or str(installed_path(model))
        return
    embedded = _section(data, "llm", "embedded")
    if model.bundled:
        embedded.pop("model_path", None)
    else:
        embedded["model_path"] = str(installed_path(model))
    llm = data["llm"]
    if str(llm.get("provider", "embedded")).lower() == "embedded" and str(llm.get("model", "")).endswith(".gguf"):
        llm.pop("model")  # llm.model would win over llm.embedded.model_path


def _scalars(value) -> bool:
    return isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value)


def dumps(data, indent: int = 0) -> str:
    """JSON like the example penny_config.json: small flat objects stay on one line."""
    flat = json.dumps(data, ensure_ascii=False)
    values = data.values() if isinstance(data, dict) else data if isinstance(data, list) else ()
    leafy = all(not isinstance(v, (dict, list)) or not v or _scalars(v) for v in values)
    if not isinstance(data, (dict, list)) or (leafy and indent and len(flat) + indent <= 100) or not data:
        return flat
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(data, list):
        return "[\n" + ",\n".join(inner + dumps(v, indent + 2) for v in data) + "\n" + pad + "]"
    return "{\n" + ",\n".join(f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in data.items()) \
        + "\n" + pad + "}"


def use(model: CatalogModel, explicit_config: str | None = None) -> tuple[Path, list[str]]:
    """Switch the config to `model`; returns the file written and notes for the user."""
    target = config_target(explicit_config)
    data: dict = {}
    if target.is_file():
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{target} is not valid JSON ({exc}); fix it before switching models.") from None
    if model.kind == "llm" and not model.bundled:
        problem = gguf_problem(installed_path(model))
        if problem:  # same check as a live switch: never point the config at a file llama.cpp can't open
            raise ConfigError(f"{installed_path(model)} {problem}. Pull it again: penny models pull {model.name}")
    apply(data, model)
    cfg = parse_config(data, str(target))  # never write a config Penny would refuse
    atomic_write(target, (dumps(data) + "\n").encode("utf-8"))  # keeps the mode; a new file is 600
    notes = []
    if os.environ.get(ENV_KEYS[model.kind]):
        notes.append(f"{ENV_KEYS[model.kind]} is set and overrides this setting until you unset it.")
    if model.kind == "llm" and cfg.llm.provider.lower() != "embedded":
        notes.append(f"llm.provider is {cfg.llm.provider}: the embedded model answers when that backend is "
                     f"unreachable (mode {cfg.llm.mode}). Set llm.provider to \"embedded\" to always use it.")
    return target, notes


# ---- switching the running LLM (POST /api/models/active) ----
class ModelRefused(PennyError):
    """A file in Penny's model folders that is not a GGUF model llama.cpp could open."""

    code = "model-invalid"
    status = 422


class ModelLoadFailed(PennyError):
    code = "model-load-failed"
    status = 502


GGUF_VERSIONS = (2, 3)  # what llama.cpp reads


def gguf_problem(path: Path) -> str | None:
    """Why `path` is not a GGUF model llama.cpp could open, or None. Reads the header only."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if head[:4] != b"GGUF":
        return "is not a GGUF model file (it does not start with the GGUF magic bytes)"
    if len(head) < 32:
        return "is a truncated GGUF file"
    version, n_tensors, n_kv, key_len = struct.unpack_from("<IQQQ", head, 4)
    if version not in GGUF_VERSIONS:
        return f"is GGUF version {version}; llama.cpp reads versions {' and '.join(map(str, GGUF_VERSIONS))}"
    if not 0 < n_tensors < 100_000 or not 0 < n_kv < 100_000 or not 0 < key_len < 1024:
        return "has a damaged GGUF header (impossible tensor or metadata counts)"
    if size < 32 + key_len + n_tensors * 24:  # each tensor needs at least a name, shape and offset
        return f"is truncated ({size} bytes for {n_tensors} tensors)"
    return None


def _bundled_gguf() -> Path | None:
    try:
        from penny.models import smollm2_gguf

        return smollm2_gguf()
    except Exception:
        return None


def model_places(cfg) -> tuple[list[Path], list[Path]]:
    """(folders, files) a switch may load from: Penny's models folder, the bundled model's folder, and
    the GGUF files the config names. All resolved: a symlink that leads elsewhere leads outside."""
    from penny.adapters.llm.factory import backend_blocks

    folders = [models_dir()]
    bundled = _bundled_gguf()
    if bundled is not None:
        folders.append(bundled.parent)
    files = [Path(p).expanduser() for p in [cfg.llm.embedded.model_path, *(b.model for b in backend_blocks(cfg))]
             if p and p.endswith(".gguf")]
    return [f.resolve() for f in folders if f.is_dir()], [f.resolve() for f in files if f.is_file()]


def switchable_ggufs(cfg) -> list[Path]:
    """Every GGUF a switch may load, by its resolved path (models folder: two levels deep)."""
    folders, files = model_places(cfg)
    found = list(files)
    for folder in folders:
        for p in [*folder.glob("*.gguf"), *folder.glob("*/*.gguf")]:
            real = p.resolve()
            if real.is_file() and _inside(real, folders, files) and real not in found:
                found.append(real)
    return found


def _inside(path: Path, folders: list[Path], files: list[Path]) -> bool:
    return path in files or any(path.is_relative_to(f) for f in folders)


def resolve_gguf(name: str, cfg) -> Path:
    """A name Penny lists (catalogue name, file name or stem of a GGUF in its model folders) or a path
    inside those folders -> a checked GGUF file. Anything else raises, saying why."""
    from penny.catalog import CATALOG, installed_path

    entry = next((m for m in CATALOG if m.name == name.strip().lower()), None)
    if entry is not None and entry.kind != "llm":
        raise ModelNotFound(f"{entry.name} is a speech model: switch with `penny models use {entry.name}` "
                            "and restart Penny.")
    if entry is not None:
        candidate = installed_path(entry)  # ModelNotFound says how to pull it
    elif "/" in name or "\\" in name or name.startswith("~"):
        candidate = Path(name).expanduser()
    else:
        candidate = next((p for p in switchable_ggufs(cfg) if name in (p.name, p.stem)), None)
        if candidate is None:
            raise ModelNotFound(f"No backend or model folder has a model named {name!r}.",
                                hint="`penny models` lists the names; `penny models pull NAME` adds one.")
    real = candidate.resolve()
    folders, files = model_places(cfg)
    if not _inside(real, folders, files):  # refused before looking at it: no probing for files by name
        raise ModelNotFound(f"{name!r} is not a model Penny lists: only GGUF files in {models_dir()} (and the "
                            "bundled or configured ones) can be loaded.")
    if not real.is_file():
        raise ModelNotFound(f"There is no model file for {name!r}.")
    problem = gguf_problem(real)
    if problem:
        raise ModelRefused(f"{real.name} {problem}; the current model stays.")
    return real


def _embedded(llm) -> list:
    from penny.adapters.llm.embedded import EmbeddedLLM

    return [b for b in getattr(llm, "backends", []) if isinstance(b, EmbeddedLLM)]


async def _listed(llm) -> dict[str, list[str]]:
    listed = llm.list_models()
    return await listed if inspect.isawaitable(listed) else listed


async def switch_model(llm, name: str, backend: str | None, cfg) -> None:
    """Switch the running chain to `name`. Remote backends: only names they list. The embedded backend:
    a GGUF from `resolve_gguf`, started before the switch counts; if it does not start, the old model
    is put back (and restarted if it was running) and ModelLoadFailed says why."""
    embedded = _embedded(llm)
    own = {b.name for b in embedded}
    if backend is None or backend not in own:
        for b, names in (await _listed(llm)).items():
            if b not in own and (backend is None or b == backend) and name in names:
                await _set(llm, name, b)
                return
    if not embedded:
        raise ModelNotFound(f"No backend lists a model named {name!r}.")
    if backend is not None and backend not in own:
        raise ModelNotFound(f"The {backend} backend lists no model named {name!r}.")
    target = next(b for b in embedded if backend in (None, b.name))
    path = resolve_gguf(name, cfg)
    try:
        old = target.model_path.resolve()
    except PennyError:
        old = None
    if old == path:
        await _set(llm, target.model, target.name)  # already loaded: just make it the active backend
        return
    order, active = list(llm.backends), getattr(llm, "_active", None)
    was_running, before = target.server is not None and target.server.running, target.model
    await _set(llm, str(path), target.name)
    try:
        await target.start()
    except Exception as exc:
        if old is not None:
            target.set_model(str(old))
        llm.backends[:] = order
        if hasattr(llm, "_active"):
            llm._active = active
        if was_running and old is not None:
            with contextlib.suppress(Exception):
                await target.start()
        reason = exc.message if isinstance(exc, PennyError) else f"{type(exc).__name__}: {exc}"
        lines = [line.strip() for line in reason.splitlines() if line.strip()]
        if len(lines) > 1:  # a log tail: its first words and its last line (the error) say enough
            reason = f"{lines[0].split(':')[0]}: {lines[-1]}"
        still = f"still using {before}" if old is not None else "the embedded backend has no working model"
        raise ModelLoadFailed(f"{path.name} did not load ({reason[:300]}); {still}.") from None


async def _set(llm, model: str, backend: str | None) -> None:
    result = llm.set_model(model, backend)
    if inspect.isawaitable(result):
        await result
