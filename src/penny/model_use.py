"""`penny models use`: point penny_config.json at a pulled (or bundled) catalogue model.

Only the one key changes (`stt.model` or `llm.embedded.model_path`); the file is validated
before it is replaced atomically, so a crash never leaves half a config.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from penny.catalog import CatalogModel, installed_path
from penny.config import CONFIG_NAME, find_config_file, parse_config, user_config_dir
from penny.errors import ConfigError

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


def write_atomic(path: Path, text: str) -> None:
    """Replace the file in one rename, keeping its permissions (600 for a new one: it may hold keys)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def use(model: CatalogModel, explicit_config: str | None = None) -> tuple[Path, list[str]]:
    """Switch the config to `model`; returns the file written and notes for the user."""
    target = config_target(explicit_config)
    data: dict = {}
    if target.is_file():
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{target} is not valid JSON ({exc}); fix it before switching models.") from None
    apply(data, model)
    cfg = parse_config(data, str(target))  # never write a config Penny would refuse
    write_atomic(target, dumps(data) + "\n")
    notes = []
    if os.environ.get(ENV_KEYS[model.kind]):
        notes.append(f"{ENV_KEYS[model.kind]} is set and overrides this setting until you unset it.")
    if model.kind == "llm" and cfg.llm.provider.lower() != "embedded":
        notes.append(f"llm.provider is {cfg.llm.provider}: the embedded model answers when that backend is "
                     f"unreachable (mode {cfg.llm.mode}). Set llm.provider to \"embedded\" to always use it.")
    return target, notes
