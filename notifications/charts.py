"""The digest's chart: a PNG drawn headless with matplotlib's Agg canvas.

The object API (``Figure`` + ``FigureCanvasAgg``) rather than ``pyplot``: no global state, so it
is safe in a worker thread (``render_chart_async``) and never opens a window. DejaVu Sans, which
ships with matplotlib, has Cyrillic; labels are cleaned of emoji it lacks (a missing glyph is a
warning, and warnings are errors in our tests). matplotlib is imported on first use: it costs
about half a second, which the bot's start-up should not pay.
"""

from __future__ import annotations

import asyncio
import io
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["ChartData", "clean_label", "render_chart", "render_chart_async"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_BARS = 8
_FONT = "DejaVu Sans"


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the chart shows: a title and up to four labelled series of counts."""

    title: str
    panels: tuple[tuple[str, Mapping[str, int]], ...]


def clean_label(text: str, limit: int = 32) -> str:
    """Letters, digits, punctuation and spaces only (no emoji), cut to ``limit``."""
    kept = "".join(
        char for char in text if unicodedata.category(char)[0] in {"L", "N", "P"} or char == " "
    ).strip()
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def _bars(counts: Mapping[str, int], name: Callable[[str], str]) -> tuple[list[str], list[int]]:
    items = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:_MAX_BARS]
    items.reverse()  # barh draws bottom-up: the largest on top
    return [clean_label(name(code)) or "—" for code, _ in items], [count for _, count in items]


def render_chart(data: ChartData, *, name: Callable[[str], str] = str) -> bytes:
    """The PNG bytes of ``data`` (one horizontal bar panel per series)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - see module doc
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    panels = [panel for panel in data.panels if panel[1]] or [(data.panels[0][0], {})]
    figure = Figure(figsize=(9, 2.4 * len(panels) + 0.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(clean_label(data.title, 80), fontfamily=_FONT, fontsize=13)
    axes = figure.subplots(len(panels), 1, squeeze=False)
    for row, (title, counts) in enumerate(panels):
        axis = axes[row][0]
        labels, values = _bars(counts, name)
        if values:
            axis.barh(labels, values, color="#2f6db5")
            for y, value in enumerate(values):
                axis.annotate(
                    str(value),
                    (value, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontfamily=_FONT,
                    fontsize=9,
                )
            axis.set_xlim(0, max(values) * 1.15 + 1)
        else:
            axis.text(0.5, 0.5, "—", ha="center", va="center", fontfamily=_FONT)
            axis.set_yticks([])
        axis.set_title(clean_label(title, 60), loc="left", fontfamily=_FONT, fontsize=11)
        for label in axis.get_yticklabels():
            label.set_fontfamily(_FONT)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.tick_params(axis="x", labelsize=8)
        axis.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    png = buffer.getvalue()
    assert png.startswith(PNG_SIGNATURE)
    return png


async def render_chart_async(data: ChartData, *, name: Callable[[str], str] = str) -> bytes:
    """``render_chart`` in a worker thread: drawing takes a few hundred milliseconds of CPU,
    which the event loop must not wait for."""
    return await asyncio.to_thread(render_chart, data, name=name)
