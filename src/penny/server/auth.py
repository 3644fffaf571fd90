"""Access token, origin and host checks.

Bound to loopback, Penny needs no token, but still refuses foreign Host headers (DNS rebinding)
and foreign Origins (a web page in the same browser driving the API). Bound anywhere else, every
API call and WebSocket needs the token from `<user config dir>/token`.
"""
from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from penny.config import ServerConfig, user_config_dir
from penny.private import write_private

TOKEN_SUBPROTOCOL_PREFIX = "penny-token."
SUBPROTOCOL = "penny.v1"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_path(server: ServerConfig) -> Path:
    return Path(server.token_file).expanduser() if server.token_file else user_config_dir() / "token"


def load_or_create_token(server: ServerConfig) -> tuple[str, bool]:
    """(token, created). Creates the file (mode 600) with a fresh random token on first use."""
    path = token_path(server)
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token, False
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token, True


def _host_port(value: str) -> tuple[str, int | None]:
    parts = urlsplit(value if "//" in value else "//" + value)
    try:
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", None


@dataclass
class Guard:
    """What one server instance accepts."""

    token: str | None = None  # None: no token needed (loopback bind)
    allowed_origins: list[str] = field(default_factory=list)
    loopback_only: bool = True  # refuse Host headers that are not loopback names

    @property
    def required(self) -> bool:
        return self.token is not None

    def token_ok(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8", "replace"), self.token.encode("utf-8"))

    def host_ok(self, host_header: str | None) -> bool:
        if not self.loopback_only:
            return True
        if not host_header:
            return True  # HTTP/1.0 clients; the socket is loopback anyway
        host, _ = _host_port(host_header)
        return is_loopback(host)

    def origin_ok(self, origin: str | None, host_header: str | None) -> bool:
        """Same origin as the Host header, or listed in server.allowed_origins. No Origin: not a browser."""
        if not origin:
            return True
        if origin == "null":
            return False
        if origin.rstrip("/") in (o.rstrip("/") for o in self.allowed_origins) or "*" in self.allowed_origins:
            return True
        o_host, o_port = _host_port(origin)
        h_host, h_port = _host_port(host_header or "")
        if not o_host or o_host != h_host:
            return False
        scheme = urlsplit(origin).scheme
        default = 443 if scheme in ("https", "wss") else 80
        return (o_port or default) == (h_port or default)


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def token_from_subprotocols(protocols: list[str]) -> str | None:
    for p in protocols:
        if p.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return p[len(TOKEN_SUBPROTOCOL_PREFIX):]
    return None
