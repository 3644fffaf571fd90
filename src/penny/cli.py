"""The `penny` command: one Typer app. Command bodies stay small and import their engines lazily."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from penny.config import PennyConfig, load_config, masked_dict
from penny.errors import PennyError

app = typer.Typer(help="Penny: a private, local-first voice assistant.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
config_app = typer.Typer(help="Show or check penny_config.json.", no_args_is_help=True)
app.add_typer(config_app, name="config")
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


def main() -> None:
    try:
        app()
    except PennyError as exc:
        typer.echo(f"penny: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
