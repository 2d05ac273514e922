"""The Telegram adapter: handlers, rendering, update intake (inbox), menus."""
