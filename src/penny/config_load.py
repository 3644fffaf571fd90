"""Reading penny_config.json: environment overrides, validation with one-line errors, masked display.

Imported through penny.config (load_config, parse_config, masked_dict); the sections are defined there.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from penny.errors import ConfigError

ENV_PREFIX = "PENNY_"


def find_config_file(explicit: str | os.PathLike | None = None,
                     environ: dict[str, str] | None = None) -> Path | None:
    """The first config file in lookup order, or None for built-in defaults."""
    from penny.config import CONFIG_NAME, user_config_dir  # config imports this module at its end

    environ = os.environ if environ is None else environ
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError(f"Config file {p} does not exist.", hint="Check the --config path.")
        return p
    env = environ.get("PENNY_CONFIG")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise ConfigError(f"PENNY_CONFIG points to {p}, which does not exist.",
                              hint="Fix or unset PENNY_CONFIG.")
        return p
    for p in (Path.cwd() / CONFIG_NAME, user_config_dir() / CONFIG_NAME):
        if p.is_file():
            return p
    return None

def _env_overrides(environ: dict[str, str]) -> list[tuple[list[str], Any, str]]:
    out = []
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # plain strings need no quotes: PENNY_LLM__MODEL=llama3.2:3b
        out.append((path, value, name))
    return out


def _set_path(data: dict, path: list[str], value: Any, origin: str) -> None:
    node = data
    for key in path[:-1]:
        nxt = node.setdefault(key, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{origin}: '{'.'.join(path)}' goes inside '{key}', which is not a section.")
        node = nxt
    node[path[-1]] = value


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{loc}' (remove it, or check its spelling)"
    value = json.dumps(err.get("input"), default=str)
    if len(value) > 60:
        value = value[:57] + "..."
    return f"key '{loc}' has value {value}: {err['msg'].lower()}"


def parse_config(data: Any, source: str = "defaults"):
    from penny.config import PennyConfig

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a JSON object like {{\"llm\": {{...}}}}.")
    try:
        cfg = PennyConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}.",
                          hint="See penny_config.json in the repository for every key and its default.") from None
    from penny.config_checks import problems as unusable

    found = unusable(cfg)
    if found:
        raise ConfigError(f"{source}: {'; '.join(found)}.",
                          hint="See penny_config.json in the repository for every key and its default.")
    cfg._source = source
    return cfg


def load_config(path: str | os.PathLike | None = None, environ: dict[str, str] | None = None):
    """Read, merge env overrides and validate. Raises ConfigError with a one-line message."""

    environ = dict(os.environ if environ is None else environ)
    file = find_config_file(path, environ)
    data: dict = {}
    source = "defaults"
    if file is not None:
        source = str(file)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                              hint="Fix the JSON syntax (a missing comma or quote is the usual cause).") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot be read ({exc}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a JSON object like {{\"llm\": {{...}}}}.")
    overrides = _env_overrides(environ)
    for key_path, value, origin in overrides:
        _set_path(data, key_path, value, origin)
    if overrides:
        source += " + " + ", ".join(o for _, _, o in overrides)
    return parse_config(data, source)


SECRET_KEYS = {"api_key", "password", "token"}


def masked_dict(cfg) -> dict:
    """The effective config as plain data with secrets masked, for `penny config show`."""

    def mask(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: ("***" + str(v)[-2:] if k in SECRET_KEYS and v else mask(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [mask(v) for v in node]
        return node

    return mask(cfg.model_dump(mode="json"))
