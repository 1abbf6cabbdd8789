"""Parsing multipart form fields into the JSON errors the API promises."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from app.errors import ApiError

E = TypeVar("E", bound=StrEnum)


def form_text(value: object, name: str, limit: int) -> str | None:
    """An optional text field of at most ``limit`` characters; empty is None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_request", f"{name} must be a text field")
    if len(value) > limit:
        raise ApiError(422, "invalid_request", f"{name} is longer than {limit} characters")
    return value


def form_choice(kind: type[E], value: object, name: str) -> E:
    """One of ``kind``'s values; 422 ``invalid_<name>`` naming them otherwise."""
    try:
        return kind(str(value))
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ApiError(
            422, f"invalid_{name}", f"{name} must be one of {known}, got {value!r}"
        ) from None
