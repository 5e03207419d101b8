"""Small charts drawn on the server as inline SVG: the admin works offline, no CDN, no JS."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 12, 40
COLOURS = {"line": "#2b6cb0", "bar": "#3182ce", "low": "#c53030", "grid": "#e2e8f0", "text": "#4a5568"}


def _frame(title: str, body: list[str]) -> SafeString:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'role="img" aria-label="{escape(title)}" style="max-width:{WIDTH}px;font:11px sans-serif">',
        f"<title>{escape(title)}</title>",
    ]
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    for pct in (0, 25, 50, 75, 100):
        y = PAD_TOP + inner_h * (1 - pct / 100)
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" stroke="{COLOURS["grid"]}"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{COLOURS["text"]}">{pct}%</text>'
        )
    parts.extend(body)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  every label above and below is escaped


def _y(value: float) -> float:
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    return PAD_TOP + inner_h * (1 - max(0.0, min(1.0, value)))


def _label_every(count: int) -> int:
    return max(1, count // 10 + (1 if count % 10 else 0))


def rate_line_chart(
    points: Sequence[tuple[str, float | None]], *, title: str, threshold: float | None = None
) -> SafeString:
    """A line of rates (0..1) over labelled points; gaps where a rate is None."""
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    step = inner_w / max(1, len(points) - 1)
    body: list[str] = []
    if threshold is not None:
        y = _y(threshold)
        body.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" '
            f'stroke="{COLOURS["low"]}" stroke-dasharray="4 3"/>'
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    every = _label_every(len(points))
    for i, (label, value) in enumerate(points):
        x = PAD_LEFT + step * i if len(points) > 1 else PAD_LEFT + inner_w / 2
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
        else:
            segment.append(f"{x:.1f},{_y(value):.1f}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{_y(value):.1f}" r="2.5" fill="{COLOURS["line"]}">'
                f"<title>{escape(label)}: {value:.0%}</title></circle>"
            )
        if i % every == 0:
            body.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" text-anchor="middle" '
                f'fill="{COLOURS["text"]}">{escape(label)}</text>'
            )
    if segment:
        segments.append(segment)
    for seg in segments:
        body.insert(0, f'<polyline fill="none" stroke="{COLOURS["line"]}" stroke-width="2" points="{" ".join(seg)}"/>')
    if not points:
        body.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="{COLOURS["text"]}">No data</text>'
        )
    return _frame(title, body)


def rate_bar_chart(
    bars: Sequence[tuple[str, float | None]], *, title: str, threshold: float | None = None
) -> SafeString:
    """One bar per label, its height the rate (0..1); bars below `threshold` in red."""
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    slot = inner_w / max(1, len(bars))
    body: list[str] = []
    for i, (label, value) in enumerate(bars):
        x = PAD_LEFT + slot * i
        if value is not None:
            colour = COLOURS["low"] if threshold is not None and value < threshold else COLOURS["bar"]
            y = _y(value)
            body.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{HEIGHT - PAD_BOTTOM - y:.1f}" fill="{colour}">'
                f"<title>{escape(label)}: {value:.0%}</title></rect>"
            )
        body.append(
            f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" text-anchor="middle" '
            f'fill="{COLOURS["text"]}">{escape(label)}</text>'
        )
    if not bars:
        body.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="{COLOURS["text"]}">No data</text>'
        )
    return _frame(title, body)
