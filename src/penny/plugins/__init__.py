"""Skills: built-in plugins (clock, timers, notes, calendar, weather) and the plugin interface.

A third-party plugin is a `Plugin` subclass published under the "penny.plugins" entry-point group:

    [project.entry-points."penny.plugins"]
    echo = "my_package.echo:EchoPlugin"

It is constructed with a `PluginContext` (clock, time zone, data folder, alert emitter and its
settings from `plugins.extra.<name>` in penny_config.json; `"enabled": false` there turns it off).
"""
from penny.plugins.base import (Clock, Intent, IntentMatch, ManualClock, Plugin, PluginContext, SkillResult,
                                SystemClock, Tool)

__all__ = ["Clock", "Intent", "IntentMatch", "ManualClock", "Plugin", "PluginContext", "SkillResult",
           "SystemClock", "Tool"]
