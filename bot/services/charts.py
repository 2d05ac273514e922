"""PNG charts for /stats, drawn with matplotlib's Agg backend and a CJK font.

Labels arrive already translated; this module only draws. matplotlib is imported on first use,
so the bot and the CLI do not pay for it until someone asks for a chart.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Fonts with the glyphs of Chinese labels, best first; fonts-noto-cjk gives the first ones.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)
WIDTH, HEIGHT, DPI = 8.0, 4.5, 120  # 960 × 540 px: readable on a phone, small to send
BAR_COLOUR = "#2f6db5"
OTHER_COLOUR = "#e0893a"
LABEL_MAX = 14
# Room for rotated type names under bars, and for org names left of horizontal bars.
MARGINS = {
    "bar": {"left": 0.08, "right": 0.98, "top": 0.9, "bottom": 0.3},
    "barh": {"left": 0.22, "right": 0.96, "top": 0.9, "bottom": 0.1},
}  # org names are cut so the axis stays readable
# pyplot keeps global state; figures are drawn one at a time even from worker threads.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Chart:
    """What to draw: a kind (bar, barh, line, pair), labels, values, and texts."""

    kind: str
    title: Any  # a str by the time it is drawn; flows put message keys here for the handler
    labels: Sequence[Any]
    values: Sequence[float]
    y_label: Any = ""
    second: Sequence[float] = ()  # "pair": the values to compare against
    legend: tuple[Any, Any] = ("", "")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs, or None when there is none."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    name = _first_cjk(manager)
    if name is None:
        # matplotlib keeps its font list in a cache across runs (~/.cache/matplotlib), so a
        # font installed after its first run stays unknown until the fonts are read again.
        known = {entry.fname for entry in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                with contextlib.suppress(Exception):  # a file it cannot read is no font to us
                    manager.addfont(path)
        name = _first_cjk(manager)
    return name


def _first_cjk(manager: Any) -> str | None:
    installed = {entry.name for entry in manager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


@lru_cache(maxsize=1)
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    from matplotlib import pyplot

    font = cjk_font()
    # DejaVu Sans stays as the fallback for Latin text; the CJK font comes first for 汉字.
    families = [*([font] if font else []), "DejaVu Sans"]
    matplotlib.rc("font", **{"family": "sans-serif", "sans-serif": families})
    matplotlib.rc("axes", unicode_minus=False)  # CJK fonts lack U+2212
    return pyplot


def render(chart: Chart) -> bytes:
    """One chart as PNG bytes."""
    with drawn(chart) as figure:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 3})
    return buffer.getvalue()


@contextlib.contextmanager
def drawn(chart: Chart) -> Iterator[Any]:
    """The chart drawn on a matplotlib figure (what `render` saves), closed afterwards."""
    with _LOCK:
        plt = _pyplot()
        figure, axes = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
        try:
            _DRAW[chart.kind](axes, chart)
            _count_ticks(axes, chart)
            axes.set_title(chart.title)
            axes.spines[["top", "right"]].set_visible(False)
            # Fixed margins instead of tight_layout(), which draws the whole figure once more.
            figure.subplots_adjust(**MARGINS.get(chart.kind, MARGINS["bar"]))
            yield figure
        finally:
            plt.close(figure)


def _count_ticks(axes: Any, chart: Chart) -> None:
    """Counts (activities, people, items) are whole: their axis is marked in whole steps,
    never 0.2, 0.4 … when the numbers are small."""
    if not all(float(value).is_integer() for value in (*chart.values, *chart.second)):
        return
    from matplotlib.ticker import MaxNLocator

    axis = axes.xaxis if chart.kind == "barh" else axes.yaxis
    axis.set_major_locator(MaxNLocator(integer=True))


def _bar(axes: Any, chart: Chart) -> None:
    bars = axes.bar(range(len(chart.values)), chart.values, color=BAR_COLOUR)
    axes.set_xticks(range(len(chart.labels)), chart.labels, rotation=30, ha="right")
    axes.bar_label(bars, fmt="%g", fontsize=8)
    axes.set_ylabel(chart.y_label)


def _line(axes: Any, chart: Chart) -> None:
    axes.plot(range(len(chart.values)), chart.values, marker="o", color=BAR_COLOUR)
    axes.set_xticks(range(len(chart.labels)), chart.labels, rotation=30, ha="right")
    axes.set_ylim(bottom=0)
    axes.set_ylabel(chart.y_label)


def _barh(axes: Any, chart: Chart) -> None:
    labels = [_short(label) for label in chart.labels]
    bars = axes.barh(range(len(chart.values)), chart.values, color=BAR_COLOUR)
    axes.set_yticks(range(len(labels)), labels)
    axes.invert_yaxis()  # the biggest on top
    axes.bar_label(bars, fmt="%g", fontsize=8)
    axes.set_xlabel(chart.y_label)


def _pair(axes: Any, chart: Chart) -> None:
    width = 0.4
    first = [i - width / 2 for i in range(len(chart.values))]
    second = [i + width / 2 for i in range(len(chart.second))]
    axes.bar(first, chart.values, width, color=BAR_COLOUR, label=chart.legend[0])
    axes.bar(second, chart.second, width, color=OTHER_COLOUR, label=chart.legend[1])
    axes.set_xticks(range(len(chart.labels)), chart.labels, rotation=30, ha="right")
    axes.set_ylabel(chart.y_label)
    axes.legend()


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


_DRAW = {"bar": _bar, "line": _line, "barh": _barh, "pair": _pair}
