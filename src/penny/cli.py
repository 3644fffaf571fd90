"""The `penny` command: one Typer app. Command bodies stay small and import their engines lazily."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from penny.cli_audio import COMMANDS as AUDIO_COMMANDS
from penny.cli_bench import bench
from penny.cli_intents import intents_app
from penny.cli_models import models_app
from penny.cli_wyoming import wyoming_command
from penny.config import PennyConfig, load_config, masked_dict
from penny.errors import PennyError

app = typer.Typer(help="Penny: a private, local-first voice assistant.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
config_app = typer.Typer(help="Show or check penny_config.json.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")
app.add_typer(intents_app, name="intents")
log = logging.getLogger("penny")


class State:
    config_path: Optional[str] = None
    verbose: bool = False
    quiet: bool = False
    _cfg: Optional[PennyConfig] = None

    @property
    def cfg(self) -> PennyConfig:
        if self._cfg is None:
            self._cfg = load_config(self.config_path)
            from penny.privacy import start

            start(self._cfg)  # existing user data made private (once), before any command touches it
        return self._cfg


state = State()


def cfg() -> PennyConfig:
    """The effective config of this invocation (loaded once)."""
    return state.cfg


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"penny: {message}", err=True)
    raise typer.Exit(code)


@app.callback()
def main_options(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Path to penny_config.json."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
    log_json: Optional[Path] = typer.Option(None, "--log-json", help="Also write JSON log lines to this file."),
) -> None:
    from penny.logs import setup_logging
    from penny.platform_check import warn_once
    from penny.privacy import quiet_libraries

    quiet_libraries()  # before any command imports onnxruntime (in-process callers skip main())
    state.config_path = str(config) if config else None
    state._cfg = None
    level = "DEBUG" if verbose else "WARNING" if quiet else "INFO"
    setup_logging(level, str(log_json) if log_json else None)
    warn_once()


@config_app.command("show")
def config_show() -> None:
    """Print the effective config (file + environment overrides), secrets masked."""
    c = cfg()
    typer.echo(f"# source: {c.source}", err=True)
    typer.echo(json.dumps(masked_dict(c), indent=2))


@config_app.command("check")
def config_check() -> None:
    """Validate the config; exit 0 when it is valid."""
    c = cfg()
    typer.echo(f"Config OK: {c.source}")


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Check every configured component and say how to fix what fails."""
    from penny.doctor import doctor as run_doctor

    raise typer.Exit(run_doctor(cfg(), as_json=as_json))



@app.command("run-file")
def run_file_cmd(
    question: Path = typer.Argument(..., help="A WAV/FLAC recording of a question."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write Penny's spoken reply to this WAV."),
    realtime: bool = typer.Option(False, "--realtime", help="Feed the audio at real-time pace, like a microphone."),
    sequential: bool = typer.Option(False, "--sequential", help="The seed's non-streaming pipeline (for comparison)."),
) -> None:
    """Run full voice turns from a file to a file and print each turn's latency trace."""
    import asyncio

    from penny.app.engines import Engines
    from penny.app.run_file import run_file

    async def go():
        engines = await Engines.load(cfg())
        try:
            return await run_file(engines, question, out, realtime=realtime, streaming=not sequential)
        finally:
            await engines.aclose()

    results = asyncio.run(go())
    if not results:
        fail("no speech was found in the recording.")
    for r in results:
        typer.echo(f"You:   {r.transcript}")
        typer.echo(f"Penny: {r.reply}")
        if r.trace is not None:
            typer.echo("trace: " + json.dumps(r.trace.to_dict()["ms"]))
    if out:
        typer.echo(f"Reply audio written to {out}")


@app.command()
def history(
    session: Optional[str] = typer.Argument(None, help="A session id; none lists the sessions."),
    fmt: str = typer.Option("markdown", "--format", "-f", help="Export format: json or markdown."),
) -> None:
    """List conversations, or export one (JSON or Markdown)."""
    from penny.config import memory_path
    from penny.memory.store import MemoryStore

    store = MemoryStore(memory_path(cfg()))
    if session is None:
        import time as _time

        for s in store.list_sessions():
            stamp = _time.strftime("%Y-%m-%d %H:%M", _time.localtime(s["updated"]))
            typer.echo(f"{s['id']}  {stamp}  {s['turns']} turns")
        return
    if not store.turns(session):
        fail(f"no conversation with id {session!r}; `penny history` lists them.")
    if fmt not in ("json", "markdown", "md"):
        fail("--format must be json or markdown.")
    typer.echo(store.export(session, fmt))


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Bind address (default server.host, 127.0.0.1). "
                                       "Any non-loopback address requires the access token."),
    port: Optional[int] = typer.Option(None, "--port", help="Port (default server.port, 8765)."),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="HTTPS certificate (PEM)."),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="HTTPS private key (PEM)."),
    self_signed: bool = typer.Option(False, "--self-signed", help="HTTPS with a generated self-signed certificate."),
) -> None:
    """Serve the browser voice client and the HTTP/WebSocket API."""
    from penny.server.serve import serve as run_server

    raise typer.Exit(run_server(cfg(), host, port, str(tls_cert) if tls_cert else None,
                                str(tls_key) if tls_key else None, self_signed))


@app.command()
def chat(
    question: Optional[str] = typer.Argument(None, help="Ask one question and exit; without it, a REPL."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model to use (as `penny models` lists it)."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Backend for --model (e.g. lmstudio)."),
) -> None:
    """Chat in text with the LLM chain: streams the answer, shows the backend and first-token latency."""
    from penny.app.chat import run_chat

    raise typer.Exit(run_chat(cfg(), question, model=model, backend=backend))


for command in AUDIO_COMMANDS:  # cli_audio.py: the commands that hear or speak
    app.command()(command)
app.command("wyoming")(wyoming_command)
app.command()(bench)


def main() -> None:
    from penny.privacy import quiet_libraries

    quiet_libraries()  # first thing: no library telemetry, no DNS look-ups (privacy.py says which and why)
    try:
        app()
    except PennyError as exc:
        typer.echo(f"penny: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
