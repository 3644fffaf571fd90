"""Base-URL normalisation for OpenAI-compatible servers, and a local/cloud guess.

Every spelling a user may paste reaches the same endpoint, never `/v1/v1`:
`http://host:1234`, `http://host:1234/`, `http://host:1234/v1`, `http://host:1234/v1/`,
`http://host:1234/v1/chat/completions` -> `http://host:1234/v1`.
"""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/models", "/embeddings")
_LOCAL_SUFFIXES = (".local", ".lan", ".home", ".internal", ".localdomain", ".home.arpa")


def normalize_base_url(url: str) -> str:
    """The API root (ending in /v1, or the user's own /vN path) without a trailing slash."""
    url = (url or "").strip()
    if not url:
        raise ValueError("empty base_url")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    changed = True
    while changed:  # strip endpoint paths, then any repeated version segment
        changed = False
        for suffix in _ENDPOINT_SUFFIXES:
            if path.endswith(suffix):
                path, changed = path[: -len(suffix)].rstrip("/"), True
        if re.search(r"/v\d+/v\d+$", path):
            path, changed = path.rsplit("/", 1)[0], True
    if not re.search(r"/v\d+(beta\d*)?$", path) and not path.endswith("/openai"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def is_local_url(url: str) -> bool:
    """True for this machine, the LAN and bare host names; False for the internet (the 'cloud')."""
    host = (urlsplit(normalize_base_url(url)).hostname or "").lower()
    if host in ("localhost", "") or "." not in host and ":" not in host:
        return True
    if host.endswith(_LOCAL_SUFFIXES):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local
