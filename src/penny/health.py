"""One health check row: what every component's `doctor_checks` returns (adapters, plugins, intents).

Kept below the adapters so an engine reports its health without importing the doctor command.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

OK, FAIL, WARN, NA = "ok", "fail", "warn", "not available"


@dataclass
class Check:
    component: str
    status: str  # ok | fail | warn | not available
    detail: str = ""
    fix: str = ""
    required: bool = True

    def to_dict(self) -> dict:
        return asdict(self)
