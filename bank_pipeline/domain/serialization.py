"""JSON-ready dicts from frozen dataclasses and back, driven by their field type hints.

Values become str/int/bool/None/list/dict only; datetimes become ISO-8601 UTC text ending in
"+00:00", tuples become lists, nested dataclasses become dicts.
"""

from __future__ import annotations

import types
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


def to_json_fields(instance: Any) -> dict[str, Any]:
    return {field.name: _encode(getattr(instance, field.name)) for field in fields(instance)}


def from_json_fields(cls: type[T], data: dict[str, Any]) -> T:
    hints = _field_hints(cls)
    return cls(**{name: _decode(hint, data[name]) for name, hint in hints.items()})


@cache
def _field_hints(cls: type) -> dict[str, Any]:
    hints = get_type_hints(cls)
    return {field.name: hints[field.name] for field in fields(cls)}


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be serialised; domain times are UTC")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return to_json_fields(value)
    return value


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        concrete = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(concrete) != 1:
            raise TypeError(f"cannot decode a field of type {hint!r}")
        return _decode(concrete[0], value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if origin is tuple:
        item_hint = get_args(hint)[0]
        return tuple(_decode(item_hint, item) for item in value)
    if isinstance(hint, type) and is_dataclass(hint):
        return from_json_fields(hint, value)
    return value
