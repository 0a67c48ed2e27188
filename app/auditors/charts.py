"""Horizontal bar charts as inline SVG, drawn on the server (no script, no inline style).

Colours and fonts come from CSS classes (``app/static/css/adgate.css``): the page's
Content-Security-Policy allows stylesheets from this site only, so the markup carries
geometry as SVG presentation attributes and nothing else. Every label is escaped;
the chart is an image with a title for screen readers, and the page puts a table of
the same numbers next to it.
"""

from __future__ import annotations

import hashlib
import re

from flask_babel import gettext as _
from markupsafe import Markup

# Each label stands on its own line above its bar, so the drawing is narrow: shrunk to a
# 360 px phone, its 14-unit text (adgate.css) is still 12.6 px high; at its full width it
# is 14 px. Side-by-side labels needed 720 units and shrank to 6 px.
WIDTH = 400
VALUE_WIDTH = 56
BAR_AREA = WIDTH - VALUE_WIDTH
LABEL_HEIGHT = 20
BAR_HEIGHT = 16
ROW_HEIGHT = LABEL_HEIGHT + BAR_HEIGHT + 10
PAD = 4
# Longer labels are cut in the drawing (the table beside it and the bar's tooltip keep them).
LABEL_CHARS = 48


def bar_chart(title: str, rows: list[tuple[str, int]], css_class: str) -> Markup:
    """One bar per (label, value), widths scaled to the largest value, the value at the end.

    No rows, or only zeros, give a short "nothing in this period" paragraph instead of an
    empty drawing. ``css_class`` is added to the chart's classes (for its colour).
    """
    # str(): a lazy translation declares itself safe HTML (``__html__``); escape it all the same.
    title = str(title)
    classes = " ".join(["bar-chart", *re.findall(r"[A-Za-z0-9_-]+", css_class)])
    values = [(str(label), max(int(value), 0)) for label, value in rows]
    top = max((value for _label, value in values), default=0)
    if top == 0:
        return Markup('<p class="{classes} bar-chart-empty">{text}</p>').format(
            classes=classes, text=_("%(chart)s: nothing in this period.", chart=title)
        )
    ident = "chart-" + hashlib.blake2s(f"{css_class}\0{title}".encode(), digest_size=5).hexdigest()
    height = len(values) * ROW_HEIGHT + 2 * PAD
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="{classes}" role="img"'
            ' aria-labelledby="{ident}-title" width="{width}" height="{height}"'
            ' viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet">'
            '<title id="{ident}-title">{title}</title>'
        ).format(classes=classes, ident=ident, width=WIDTH, height=height, title=title)
    ]
    for i, (label, value) in enumerate(values):
        y = PAD + i * ROW_HEIGHT
        middle = y + LABEL_HEIGHT + BAR_HEIGHT // 2
        bar = round(value / top * BAR_AREA)
        if value and not bar:
            bar = 1  # a value that is not zero stays visible next to a much larger one
        parts.append(
            Markup(
                '<g class="bar-row"><title>{label}: {value}</title>'
                '<text class="bar-label" x="0" y="{label_y}"'
                ' dominant-baseline="central">{short}</text>'
                '<rect class="bar" x="{bar_x}" y="{bar_y}" width="{bar}" height="{bar_h}"/>'
                '<text class="bar-value" x="{value_x}" y="{middle}"'
                ' dominant-baseline="central">{value}</text></g>'
            ).format(
                label=label,
                value=value,
                short=_shorten(label),
                label_y=y + LABEL_HEIGHT // 2,
                middle=middle,
                bar_x=0,
                bar_y=y + LABEL_HEIGHT,
                bar=bar,
                bar_h=BAR_HEIGHT,
                value_x=bar + 6,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _shorten(label: str) -> str:
    label = " ".join(label.split())
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"
