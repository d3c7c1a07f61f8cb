"""Typed reads of the environment and the value syntaxes it shares with the command line.

`Env` reads one mapping (os.environ, or a dict in tests); a malformed value raises
`ConfigError` naming the variable. `parse_duration` and `Rate.parse` are the one definition of
"15s" and "500/s", used by the settings and by `fbq`'s options alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from feedback_queue.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(ms|s|m|h|d)\s*$")


def parse_duration(text: str) -> float:
    """Seconds from "90", "90s", "500ms", "5m", "1h" or "7d"; ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like '15s', '500ms' or '5m', got {text!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


@dataclass(frozen=True)
class Rate:
    """`limit` events per `period` seconds, parsed from "500/s", "20/m" or "10/5s"."""

    limit: int
    period: float

    @classmethod
    def parse(cls, text: str, *, name: str) -> Rate:
        match = _RATE.match(text)
        if not match or int(match.group(1)) <= 0:
            raise ConfigError(
                f"{name}: expected a rate like '500/s', '20/m' or '10/5s', got {text!r}"
            )
        count = int(match.group(2) or "1")
        if count <= 0:
            raise ConfigError(f"{name}: the period must be positive, got {text!r}")
        return cls(int(match.group(1)), count * _DURATION_UNITS[match.group(3)])

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


class Env:
    """Typed reads of one environment mapping; empty strings count as unset.

    Each read takes its default from the config object that owns it, so a default is written
    once, on its dataclass field."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> str | None:
        """`name`, or the contents of the file `name`_FILE names (as Kubernetes and Docker
        mount secrets). Secrets keep their exact bytes (a password may end in a space) but for
        a file's final line break; empty is unset."""
        value = self._environ.get(name, "")
        path = self._environ.get(f"{name}_FILE", "").strip()
        if not path:
            return value or None
        if value:
            raise ConfigError(f"{name} and {name}_FILE are both set: keep one")
        try:
            with open(path, encoding="utf-8") as file:
                value = file.read()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{name}_FILE: {path} is not UTF-8 text") from None
        return value.removesuffix("\n").removesuffix("\r") or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def pattern(self, name: str, default: str, regex: re.Pattern[str], what: str) -> str:
        value = self.text(name, default)
        if not regex.match(value):
            raise ConfigError(f"{name}: expected {what}, got {value!r}")
        return value

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        text = self.optional(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name}: must be at most {maximum}, got {value}")
        return value

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        text = self.optional(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {text!r}") from None
        if minimum is not None and not value >= minimum:  # "not >=" refuses nan too
            raise ConfigError(f"{name}: must be at least {minimum:g}, got {text!r}")
        if maximum is not None and not value <= maximum:
            raise ConfigError(f"{name}: must be at most {maximum:g}, got {text!r}")
        return value

    def port(self, name: str, default: int) -> int:
        return self.integer(name, default, minimum=0, maximum=65535)

    def flag(self, name: str, default: bool) -> bool:
        text = self.optional(name)
        if text is None:
            return default
        lowered = text.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}: expected true or false, got {text!r}")

    def duration(self, name: str, default: float) -> float:
        """Seconds from "15", "15s", "500ms", "5m", "1h" or "7d"."""
        text = self.optional(name)
        if text is None:
            return default
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        if seconds <= 0:
            raise ConfigError(f"{name}: must be more than zero, got {text!r}")
        return seconds

    def rate(self, name: str) -> Rate | None:
        text = self.optional(name)
        return Rate.parse(text, name=name) if text else None
