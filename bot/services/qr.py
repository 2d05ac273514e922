"""QR codes of short texts (an invite code), as PNG images: segno, pure Python, no Pillow."""

from __future__ import annotations

import io

import segno

SCALE = 8  # pixels per module: a version-2 code is 264 px wide, readable from a phone screen
BORDER = 4  # the quiet zone the standard asks for, in modules


def qr_png(text: str) -> bytes:
    """A QR code of ``text`` as a PNG image."""
    buffer = io.BytesIO()
    segno.make(text, micro=False).save(buffer, kind="png", scale=SCALE, border=BORDER)
    return buffer.getvalue()
