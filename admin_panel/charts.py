"""Server-rendered SVG charts for the dashboard: stacked bars with a legend, no JavaScript."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# A palette that stays readable for the common colour-vision deficiencies (Okabe-Ito).
COLOURS = ("#0072B2", "#009E73", "#E69F00", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
WIDTH, HEIGHT = 720, 220
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 44, 36, 10


def _nice_ceiling(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def stacked_bars(buckets: list[str], series: dict[str, list[int]], title: str) -> SafeString:
    """buckets: x labels; series: name -> one count per bucket. Returns an <svg> element."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(buckets))]
    top = _nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - MARGIN_LEFT - 8, HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    slot = plot_w / max(1, len(buckets))
    bar_w = max(1.0, slot * 0.75)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 24}" role="img" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        y = MARGIN_TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{int(top * fraction)}</text>')
    label_every = max(1, len(buckets) // 12)
    for i, bucket in enumerate(buckets):
        x = MARGIN_LEFT + i * slot + (slot - bar_w) / 2
        y_base = float(MARGIN_TOP + plot_h)
        for colour, (name, values) in zip(COLOURS, series.items(), strict=False):
            if not values[i]:
                continue
            height = plot_h * values[i] / top
            y_base -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y_base:.1f}" width="{bar_w:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(bucket)} {escape(name)}: {values[i]}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 14}" text-anchor="middle">'
                f"{escape(bucket)}</text>"
            )
    legend_x = MARGIN_LEFT
    for colour, name in zip(COLOURS, series, strict=False):
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT + 6}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{HEIGHT + 15}">{escape(name)}</text>')
        legend_x += 24 + 8 * len(str(name))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  # every text inside is escaped above
