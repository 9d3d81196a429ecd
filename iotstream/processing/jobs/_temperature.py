"""Temperatures declared in °C, °F or K, converted to the unit a rule compares in.

A Datastream declares its unit in the registry (`unitOfMeasurement`: symbol, name or a UCUM
definition); the rule joins `registry.datastreams` to read it. A datastream that declares no unit is
taken to be in the rule's unit already; one that declares something other than a temperature cannot
be compared, and its readings are rejected with that reason.
"""

from functools import lru_cache
from typing import Any

__all__ = ["SYMBOLS", "canonical_unit", "declared_unit", "to_unit"]

SYMBOLS = {"degC": "°C", "degF": "°F", "K": "K"}
_ALIASES = {
    "degC": ("c", "°c", "℃", "degc", "cel", "celsius", "degree celsius", "degrees celsius"),
    "degF": ("f", "°f", "℉", "degf", "[degf]", "fahrenheit", "degree fahrenheit", "degrees fahrenheit"),
    "K": ("k", "kelvin", "kelvins"),
}
_CANONICAL = {alias: unit for unit, aliases in _ALIASES.items() for alias in aliases}
_TO_CELSIUS = {"degC": lambda v: v, "degF": lambda v: (v - 32) * 5 / 9, "K": lambda v: v - 273.15}
_FROM_CELSIUS = {"degC": lambda c: c, "degF": lambda c: c * 9 / 5 + 32, "K": lambda c: c + 273.15}


def canonical_unit(text: str) -> str | None:
    """`"°F"`, `"Fahrenheit"`, `"[degF]"`, `"ucum:[degF]"`, a UCUM URL ending in `#[degF]` → `"degF"`."""
    cleaned = text.strip().lower()
    for separator in ("#", ":"):
        if separator in cleaned and cleaned not in _CANONICAL:
            cleaned = cleaned.rsplit(separator, 1)[1]
    return _CANONICAL.get(cleaned)


def declared_unit(row: Any) -> str | None:
    """The temperature unit a registry Datastream record declares; None when it declares nothing.

    Raises ValueError when it declares a unit that is not a temperature."""
    unit = row.get("unitOfMeasurement") if isinstance(row, dict) else None
    texts = tuple(
        str(unit[f]) for f in ("symbol", "name", "definition") if isinstance(unit, dict) and unit.get(f)
    )
    return _temperature_of(texts)


@lru_cache(maxsize=1024)
def _temperature_of(texts: tuple[str, ...]) -> str | None:
    """Parsed once per distinct declaration, not once per reading."""
    for text in texts:
        if found := canonical_unit(text):
            return found
    if texts:
        raise ValueError(f"the datastream's unit {texts[0]!r} is not a temperature in °C, °F or K")
    return None


def to_unit(value: float, source: str, target: str) -> float:
    return value if source == target else _FROM_CELSIUS[target](_TO_CELSIUS[source](value))
