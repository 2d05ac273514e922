"""A reply's files kept in the media store (bot/services/media_store.py), read for a channel
that sends files by its own ids (Telegram): a photo a member sent on WeCom shown there."""

from __future__ import annotations

import asyncio
import dataclasses

from bot.flows.base import Album, Media, Reply
from bot.services.media_store import MediaStore, is_stored


async def loaded(reply: Reply, store: MediaStore) -> Reply:
    """``reply`` with its kept files read from the store, as files to upload (for a channel
    that sends by its own ids, like Telegram: a photo a member sent on WeCom shown there).
    Read in a thread (up to 20 MB each); a file gone from the store stays as it was."""
    if not any(is_stored(item.file_id) for album in reply.albums for item in album.items):
        return reply

    def load(album: Album) -> Album:
        return dataclasses.replace(
            album, items=tuple(_loaded(item, store) for item in album.items)
        )

    albums = await asyncio.to_thread(lambda: [load(album) for album in reply.albums])
    return dataclasses.replace(reply, albums=albums)


def _loaded(item: Media, store: MediaStore) -> Media:
    stored = store.get(item.file_id) if item.data is None else None
    return item if stored is None else Media.made(item.kind, stored.data, stored.filename)
