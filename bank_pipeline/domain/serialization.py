"""JSON-ready dicts from frozen dataclasses and back, driven by their field type hints.

Values become str/int/bool/None/list/dict only; datetimes become ISO-8601 UTC text ending in
"+00:00", tuples become lists, nested dataclasses become dicts.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


def to_json_fields(instance: Any) -> dict[str, Any]:
    return {name: _encode(getattr(instance, name)) for name in _field_names(type(instance))}


def from_json_fields(cls: type[T], data: dict[str, Any]) -> T:
    return cls(**{name: decode(data[name]) for name, decode in _field_decoders(cls)})


# Events and snapshots are (de)serialised on every command: the type introspection is done once per class.


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in fields(cls))


@cache
def _field_decoders(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    hints = get_type_hints(cls)
    return tuple((field.name, _decoder(hints[field.name])) for field in fields(cls))


_PLAIN = frozenset({str, int, bool, type(None)})


def _encode(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be serialised; domain times are UTC")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return to_json_fields(value)
    return value


@cache
def _decoder(hint: Any) -> Callable[[Any], Any]:
    """A function that turns the JSON form of a `hint`-typed field back into its value (None stays None)."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        concrete = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(concrete) != 1:
            raise TypeError(f"cannot decode a field of type {hint!r}")
        return _decoder(concrete[0])
    if hint is datetime:
        convert: Callable[[Any], Any] = datetime.fromisoformat
    elif origin is tuple:
        item = _decoder(get_args(hint)[0])
        convert = lambda values: tuple(item(value) for value in values)  # noqa: E731
    elif isinstance(hint, type) and is_dataclass(hint):
        convert = lambda data: from_json_fields(hint, data)  # noqa: E731
    else:
        return _identity
    return lambda value: None if value is None else convert(value)


def _identity(value: Any) -> Any:
    return value
