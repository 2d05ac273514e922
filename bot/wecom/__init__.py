"""The WeCom (企业微信) adapter: a self-built application's callback crypto and API client.

Nothing here knows Telegram; nothing below the adapters imports it.
"""
