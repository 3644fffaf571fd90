"""How every engine family reads a configured name: one alias table per family, one normalisation
(case, dashes, dots and spaces don't matter), and an unknown name is a ConfigError listing the known ones.
`penny config check` validates with the same tables the factories build from."""
from __future__ import annotations

from dataclasses import dataclass, field

from penny.errors import ConfigError


@dataclass(frozen=True)
class Names:
    key: str  # the config key, for messages ("tts.provider")
    aliases: dict[str, str]  # written forms -> the engine's one name
    known: str = ""  # how an error lists them; default: the engine names
    hint: str = ""
    engines: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "engines", tuple(dict.fromkeys(self.aliases.values())))

    @property
    def listed(self) -> str:
        return self.known or ", ".join(self.engines)

    def canonical(self, name: str) -> str:
        key = (name or "").strip().lower().replace("-", "_").replace(".", "_").replace(" ", "_")
        if key not in self.aliases:
            raise ConfigError(f"Unknown {self.key} '{name}'. Known: {self.listed}.",
                              hint=self.hint or f"Fix {self.key}.")
        return self.aliases[key]
