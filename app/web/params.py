"""Query-string numbers and path ids read safely: a page or an API never answers 500 to them."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII digits only ("²" is a digit to str.isdigit)
ID = "int(max=9223372036854775807)"  # path ids the database can hold; larger ones are a 404


def number(value: str | None, default: int, maximum: int) -> int:
    """A positive whole number from a query string, within ``maximum``; else the default."""
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return default
    return max(1, min(int(value), maximum))
