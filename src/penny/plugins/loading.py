"""Which plugins run: the built-in skills that are enabled, then third-party ones (entry point group
"penny.plugins"), each given its context (clock, time zone, data folder, settings, alerts)."""
from __future__ import annotations

import importlib
import logging
from datetime import tzinfo
from importlib.metadata import entry_points
from pathlib import Path

from penny.config import PennyConfig, user_config_dir, user_data_dir
from penny.core.events import Alert
from penny.plugins.base import Clock, Plugin, PluginContext, SystemClock
from penny.plugins.registry import PluginRegistry

log = logging.getLogger("penny.plugins")

ENTRY_POINT_GROUP = "penny.plugins"
BUILTINS = {
    "clock": "penny.plugins.clock:ClockPlugin",
    "timers": "penny.plugins.timers:TimersPlugin",
    "notes": "penny.plugins.notes:NotesPlugin",
    "calendar": "penny.plugins.calendar:CalendarPlugin",
    "weather": "penny.plugins.weather:WeatherPlugin",
}


def user_timezone(cfg: PennyConfig, clock: Clock | None = None) -> tzinfo:
    from zoneinfo import ZoneInfo

    if cfg.assistant.timezone:
        try:
            return ZoneInfo(cfg.assistant.timezone)
        except Exception:
            log.warning("assistant.timezone %r is not a known time zone; using the machine's",
                        cfg.assistant.timezone)
    if clock is not None and clock.now().tzinfo is not None:
        return clock.now().tzinfo
    try:
        import tzlocal

        return tzlocal.get_localzone()
    except Exception:
        return ZoneInfo("UTC")


def custom_sentences_dir(cfg: PennyConfig) -> Path:
    folder = cfg.assistant.custom_sentences
    return Path(folder).expanduser() if folder else user_config_dir() / "custom_sentences"


def _load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_plugins(cfg: PennyConfig, *, clock: Clock | None = None, data_dir: Path | None = None) -> PluginRegistry:
    tz = user_timezone(cfg, clock)
    clock = clock or SystemClock(tz)
    data_dir = Path(data_dir) if data_dir else user_data_dir()
    registry_box: list[PluginRegistry] = []

    async def emit(alert: Alert) -> None:
        await registry_box[0].emit_alert(alert)

    def ctx(settings) -> PluginContext:
        return PluginContext(clock=clock, tz=tz, data_dir=data_dir, emit_alert=emit, settings=settings)

    plugins: list[Plugin] = []
    for name, target in BUILTINS.items():
        settings = getattr(cfg.plugins, name)
        if not settings.enabled:
            continue
        try:
            plugins.append(_load(target)(ctx(settings)))
        except Exception:
            log.exception("built-in plugin %s failed to load", name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        settings = cfg.plugins.extra.get(ep.name, {})
        if settings.get("enabled", True) is False or ep.name in BUILTINS:
            continue
        try:
            plugin = ep.load()(ctx(settings))
            if getattr(plugin, "name", Plugin.name) in (None, "", Plugin.name):
                plugin.name = ep.name
            plugins.append(plugin)
        except Exception:
            log.exception("plugin %s (entry point %s) failed to load; skipping it", ep.name, ep.value)
    registry = PluginRegistry(plugins, clock=clock, tz=tz, data_dir=data_dir, language=cfg.assistant.language,
                              custom_dir=custom_sentences_dir(cfg), name=cfg.assistant.name)
    registry_box.append(registry)
    return registry
