"""Argument types shared by the commands."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def uri(value: str) -> str:
    """Local paths become absolute so worker processes resolve them identically."""
    return value if "://" in value else os.path.abspath(value)


def when(value: str) -> datetime:
    """ISO date or datetime; naive values are UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
