"""`penny doctor`: check every configured component and say how to fix what fails.

Each adapter family exposes `doctor_checks(cfg) -> list[Check]` in the module named in
COMPONENT_MODULES; a family that is missing reports "not available" instead of being faked.
"""
from __future__ import annotations

import asyncio
import importlib
import inspect

from penny.config import PennyConfig
from penny.health import FAIL, NA, OK, WARN, Check  # noqa: F401 (the API and tests read them here too)

COMPONENT_MODULES = {
    "llm": "penny.adapters.llm.factory",
    "stt": "penny.adapters.stt.factory",
    "tts": "penny.adapters.tts.factory",
    "vad": "penny.adapters.vad.factory",
    "wake": "penny.adapters.wake.factory",
    "turn": "penny.adapters.turn.factory",
    "audio": "penny.adapters.audio.device",
    "calendar": "penny.plugins.calendar",
    "language": "penny.languages",
    "intents": "penny.intents.health",
}


def network_check(cfg: PennyConfig) -> Check:
    """What leaves this machine with this config: "none used", or each configured service and its address."""
    from penny.privacy import network_services

    found = network_services(cfg)
    if not found:
        return Check("network", OK, "none used", required=False)
    return Check("network", OK, "will contact: " + "; ".join(f"{what} {where}" for what, where in found),
                 "Remove or switch these off in the config to keep everything on this machine.", required=False)


async def run_checks(cfg: PennyConfig, only: set[str] | None = None) -> list[Check]:
    checks = [Check("config", OK, cfg.source)]
    if not only or "network" in only:
        try:
            checks.append(network_check(cfg))
        except Exception as exc:
            checks.append(Check("network", FAIL, f"check crashed: {exc}", required=False))
    for component, module_name in COMPONENT_MODULES.items():
        if only and component not in only:
            continue
        try:
            fn = getattr(importlib.import_module(module_name), "doctor_checks")
        except (ImportError, AttributeError):
            checks.append(Check(component, NA, "not built yet", required=False))
            continue
        try:
            result = fn(cfg)
            if inspect.isawaitable(result):
                result = await result
            checks.extend(result)
        except Exception as exc:  # a broken check is a failed check, not a crashed doctor
            checks.append(Check(component, FAIL, f"check crashed: {exc}"))
    return checks


def healthy(checks: list[Check]) -> bool:
    return all(c.status != FAIL for c in checks if c.required)


def render(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {OK: "green", FAIL: "red", WARN: "yellow", NA: "dim"}
    table = Table(title="Penny doctor")
    for col in ("component", "status", "detail", "how to fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c.component, f"[{colours.get(c.status, 'white')}]{c.status}[/]", c.detail, c.fix)
    Console().print(table)


def doctor(cfg: PennyConfig, as_json: bool = False) -> int:
    checks = asyncio.run(run_checks(cfg))
    if as_json:
        import json

        print(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        render(checks)
    return 0 if healthy(checks) else 1
