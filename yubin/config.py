"""Read Yubin's configuration from the environment, in one place.

Every name here is documented in the README's configuration table; nothing else in the
project reads os.environ for configuration.
"""

from __future__ import annotations

import os
from pathlib import Path


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"configuration error: {name}={raw!r} is not a whole number") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SystemExit(f"configuration error: {name}={raw!r} is not a yes/no value")


def env_size(name: str, default: int) -> int:
    """A byte size such as 50M, 2G, 512k or a plain number of bytes."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise SystemExit(f"configuration error: {name}={raw!r}: {exc}") from exc


_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """Parse '50M', '1.5G', '1024' into bytes (binary units)."""
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = cleaned[-1:] if cleaned[-1:] in _UNITS else ""
    number = cleaned[: -len(unit)] if unit else cleaned
    try:
        value = float(number)
    except ValueError:
        raise ValueError("expected a size such as 500M or 2G") from None
    if value < 0:
        raise ValueError("a size cannot be negative")
    return int(value * _UNITS[unit])


def data_dir() -> Path:
    return Path(env_str("YUBIN_DATA_DIR", "./var")).resolve()
