"""The dates a policy passage sets, read as of its document's date: whether they have passed.

A notice of 2021-11-23 that says "于12月9日前报送" set 2021-12-09; shown today, that 12月9日
reads as this year's deadline unless the answer says where it comes from. Dates before the
document's own (2020年4月8日，自治区科协印发…) are its history, not what it sets.
"""

from __future__ import annotations

from datetime import date

from bot.services import when


def issued_on(text: str | None) -> date | None:
    """A document's date as the index keeps it (2021-11-23), or None (undated, unreadable)."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def passed_date(passage: str, issued: date, today: date) -> when.Found | None:
    """The latest date the passage sets (after ``issued``; a day without a year is the
    next one after it), when it is before ``today``; None when the passage sets none, or one
    that is still ahead."""
    # The deadline reading (forward from the reference day) puts 12月9日 after the document.
    found = when.find_days(passage, issued, when.DEADLINE)
    # Strictly after: the document's own date, signed under it, is no date it sets.
    dates = [item for item in found if item.day is not None and item.day > issued]
    if not dates:
        return None
    latest = max(dates, key=lambda item: item.day or issued)
    return latest if latest.day is not None and latest.day < today else None
