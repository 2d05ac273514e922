"""stabot: a Telegram assistant for the liaisons of science and technology associations."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
