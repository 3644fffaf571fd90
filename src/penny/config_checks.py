"""Config checks pydantic cannot express alone: provider names the engine factories know (with their
aliases), and URL shapes. `parse_config` runs them, so `penny config check`, `penny serve` and every
other command refuse the same configs, with the key, the value and the fix in one line."""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from penny.errors import ConfigError

if TYPE_CHECKING:
    from penny.adapters.names import Names

URL_EXAMPLE = "http(s)://host[:port][/path], e.g. http://localhost:11434/v1"
_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$", re.I)


def _value(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def url_problem(url: str, *, bare_host_ok: bool = True) -> str | None:
    """Why `url` is not an http(s)://host[:port][/path] URL, or None. A bare host[:port] counts as http://
    (as the LLM client reads it) when `bare_host_ok`."""
    text = url.strip()
    if not text:
        return "it is empty"
    if any(c.isspace() for c in text):
        return "it contains spaces"
    if "://" not in text:
        if not bare_host_ok:
            return "it has no http:// or https:// in front"
        if re.match(r"(?i)https?[:/]", text):
            return "the scheme is misspelt (write http:// or https://)"
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        return f"it does not parse as a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"the scheme is '{parts.scheme}', not http or https"
    host = parts.hostname or ""
    if not host:
        return "it names no host"
    if ":" not in host and not _HOST.match(host):  # IPv6 literals came in [brackets] and parsed above
        return f"'{host}' is not a host name"
    if port == 0:
        return "port 0 is not a port"
    if parts.query or parts.fragment:
        return "it has a ?query or #fragment"
    if "//" in parts.path:
        return "its path has a doubled slash"
    return None


def _provider(out: list[str], key: str, value: str, names: "Names") -> None:
    try:
        names.canonical(value)
    except (ConfigError, AttributeError):
        out.append(f"key '{key}' has value {_value(value)}: not a known provider; use one of: {names.listed}")


def _url(out: list[str], key: str, value: str | None, **kw) -> None:
    if value is None:
        return
    problem = url_problem(value, **kw)
    if problem:
        out.append(f"key '{key}' has value {_value(value)}: not a URL ({problem}); use {URL_EXAMPLE}")


def problems(cfg) -> list[str]:
    """Every provider name and URL in `cfg` that no factory would accept, as config error phrases."""
    from penny.adapters.llm.factory import NAMES as LLM
    from penny.adapters.stt.factory import NAMES as STT
    from penny.adapters.tts.factory import NAMES as TTS
    from penny.adapters.vad.factory import NAMES as VAD
    from penny.adapters.wake.factory import NAMES as WAKE

    out: list[str] = []
    _provider(out, "llm.provider", cfg.llm.provider, LLM)
    _url(out, "llm.base_url", cfg.llm.base_url)
    for i, block in enumerate(cfg.llm.fallbacks):
        _provider(out, f"llm.fallbacks.{i}.provider", block.provider, LLM)
        _url(out, f"llm.fallbacks.{i}.base_url", block.base_url)
    _provider(out, "stt.provider", cfg.stt.provider, STT)
    _provider(out, "tts.provider", cfg.tts.provider, TTS)
    for i, name in enumerate(cfg.tts.fallbacks):
        _provider(out, f"tts.fallbacks.{i}", name, TTS)
    _provider(out, "vad.provider", cfg.vad.provider, VAD)
    _provider(out, "wake.engine", cfg.wake.engine, WAKE)
    _url(out, "plugins.weather.base_url", cfg.plugins.weather.base_url, bare_host_ok=False)
    return out
