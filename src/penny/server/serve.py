"""`penny serve`: pick the bind address, the token and TLS, load the models once, run uvicorn."""
from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

from penny.config import PennyConfig, user_config_dir
from penny.errors import ConfigError
from penny.server.auth import Guard, is_loopback, load_or_create_token, token_path


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_guard(cfg: PennyConfig, host: str) -> tuple[Guard, str | None]:
    """The guard for this bind address, and the token when it was just created (to print once)."""
    if is_loopback(host):
        return Guard(None, list(cfg.server.allowed_origins), loopback_only=True), None
    token, created = load_or_create_token(cfg.server)
    return Guard(token, list(cfg.server.allowed_origins), loopback_only=False), (token if created else None)


def check_port(host: str, port: int) -> None:
    """Fail before the models load, not after, when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
                              hint="Is Penny already running? Pick another port with --port.") from None


def serve(cfg: PennyConfig, host: str | None = None, port: int | None = None, tls_cert: str | None = None,
          tls_key: str | None = None, self_signed: bool = False) -> int:
    import uvicorn

    from penny.server.app import create_app
    from penny.server.tls import ensure_self_signed, lan_ip

    host = host or cfg.server.host
    port = port or cfg.server.port
    cert = tls_cert or cfg.server.tls_cert
    key = tls_key or cfg.server.tls_key
    if bool(cert) != bool(key):
        raise ConfigError("HTTPS needs both --tls-cert and --tls-key.")
    if self_signed and not cert:
        c, k = ensure_self_signed(user_config_dir() / "tls", host)
        cert, key = str(c), str(k)
        _say(f"Self-signed certificate: {c} (browsers will ask you to accept it once).")
    for f in (cert, key):
        if f and not Path(f).expanduser().is_file():
            raise ConfigError(f"TLS file {f} does not exist.")
    check_port(host, port)
    guard, new_token = build_guard(cfg, host)
    scheme = "https" if cert else "http"
    shown = host
    if host in ("0.0.0.0", "::", ""):
        shown = lan_ip() or "127.0.0.1"
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"{scheme}://{shown}:{port}/"

    def ready() -> None:
        if new_token:
            _say(f"Access token (saved in {token_path(cfg.server)}; shown only this once):\n  {new_token}")
            _say(f"Penny is ready: {url}#token={new_token}")
        elif guard.required:
            _say(f"Penny is ready: {url}  (access token in {token_path(cfg.server)})")
        else:
            _say(f"Penny is ready: {url}")
        if not cert and not is_loopback(host):
            _say("Note: phones need HTTPS for the microphone; restart with --self-signed or --tls-cert/--tls-key.")

    _say(f"Loading models for {url} ...")
    app = create_app(cfg, guard=guard)
    config = uvicorn.Config(app, host=host, port=port, ssl_certfile=cert, ssl_keyfile=key, log_level="warning",
                            ws_max_size=cfg.server.max_frame_kb * 1024 + 4096, server_header=False,
                            proxy_headers=False, timeout_graceful_shutdown=3)

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if self.started:  # announce once the socket listens, not merely once the models loaded
                ready()

    server = Server(config)
    state = app.state.penny
    quiet = _QuietStartupFailure(state)
    logging.getLogger("uvicorn.error").addFilter(quiet)
    try:
        server.run()
    except SystemExit:
        if state.startup_error is not None:
            raise state.startup_error from None  # the CLI prints it as one line
        raise
    finally:
        logging.getLogger("uvicorn.error").removeFilter(quiet)
    return 0 if server.started else 1


class _QuietStartupFailure(logging.Filter):
    """A PennyError while loading models is reported as its message, not as uvicorn's traceback."""

    def __init__(self, state):
        super().__init__()
        self.state = state

    def filter(self, record: logging.LogRecord) -> bool:
        return self.state.startup_error is None
