"""The fault model the loopback fakes share (benchmarks/fake_bot_api.py for Telegram,
offline/wecom_api.py for WeCom): a share of calls answered 5xx and a share whose connection
drops, each striking *before* the call was processed (nothing done) or *after* (done, the
answer lost), drawn from a seeded generator."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class FaultModel:
    """Which share of calls fail, and how."""

    error_5xx: float = 0.0  # answered 500 or 502
    drop: float = 0.0  # the connection closes without an answer
    after_5xx: float = 0.0  # of the 5xx answers, the share given after processing
    after_drop: float = 0.5  # of the dropped connections, the share dropped after processing
    seed: int = 1

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def roll(self) -> tuple[str, str] | None:
        """None, or (``5xx`` | ``drop``, ``before`` | ``after``) for one call."""
        roll = self.rng.random()
        if roll >= self.error_5xx + self.drop:
            return None
        kind = "5xx" if roll < self.error_5xx else "drop"
        after = self.after_5xx if kind == "5xx" else self.after_drop
        return kind, "after" if self.rng.random() < after else "before"

    def describe(self) -> dict[str, float]:
        """The model, as a report states it."""
        return {
            "5xx": self.error_5xx,
            "drop": self.drop,
            "5xx_after_processing": self.after_5xx,
            "drop_after_processing": self.after_drop,
        }
