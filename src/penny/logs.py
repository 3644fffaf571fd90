"""One logging set-up for the whole program: rich on the terminal, optional JSON lines to a file."""
from __future__ import annotations

import json
import logging
import sys
import time

_JSON_FIELDS = ("name", "levelname", "message")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        data = {k: getattr(record, k) for k in _JSON_FIELDS}
        data["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data)


class PrivateFileHandler(logging.FileHandler):
    """A log file created 600: log lines quote what the user said."""

    def _open(self):
        from pathlib import Path

        from penny.private import open_private, private_dir

        private_dir(Path(self.baseFilename).parent)
        return open_private(self.baseFilename, "a", encoding=self.encoding, errors=self.errors,
                            follow_symlinks=True)  # --log-json names the path on purpose


def setup_logging(level: str = "INFO", json_file: str | None = None) -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    console = RichHandler(console=_stderr_console(), show_path=False, rich_tracebacks=False)
    console.setLevel(level)
    root.addHandler(console)
    if json_file:
        fh = PrivateFileHandler(json_file, encoding="utf-8")
        fh.setFormatter(JsonFormatter())
        fh.setLevel(logging.DEBUG)
        root.addHandler(fh)
    root.setLevel(logging.DEBUG if json_file else level)
    # Libraries that chat at INFO stay at WARNING unless we are debugging.
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "openai", "faster_whisper", "urllib3", "asyncio",
                  "multipart"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, force_terminal=None if sys.stderr.isatty() else False)
