"""How a document is cited: issuer, 文号 and date, in one place for answers and /docs."""

from __future__ import annotations

from bot.flows.base import Msg


def citation(issuer: str | None, doc_number: str | None, date: str | None) -> Msg:
    """发文单位，文号，日期; a document without a number reads naturally without it."""
    issuer_part = issuer or Msg("ask.unknown_issuer")
    date_part = date or Msg("ask.undated")
    if doc_number:
        return Msg(
            "ask.details_numbered", issuer=issuer_part, doc_number=doc_number, date=date_part
        )
    return Msg("ask.details", issuer=issuer_part, date=date_part)
