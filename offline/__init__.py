"""Telegram's Bot API in process and the terminal chat (`stabot chat`)."""
