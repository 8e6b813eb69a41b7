"""A dependency-free SVG bar chart of warm query latency (p50 and p95) per corpus size."""

from __future__ import annotations

from html import escape
from typing import Any

SERIES = [
    ("retrieve()", "query", "retrieve", "#9ecae1", "#3182bd"),
    ("answer()", "query", "answer", "#a1d99b", "#31a354"),
    ("answer() + rerank", "query_rerank", "answer", "#fdae6b", "#e6550d"),
]
TARGETS = [(100, "answer p50 target"), (250, "answer p95 target")]


def render_svg(results: dict[str, Any]) -> str:
    """Grouped bars: for each size, p50 (light) stacked under p95 (dark) for each series."""
    sizes = list(results["sizes"])
    values = [
        results["sizes"][s][group][key][p]
        for s in sizes
        for _, group, key, _, _ in SERIES
        for p in ("p50_ms", "p95_ms")
    ]
    top = max([*values, 300.0]) * 1.1
    width, height, left, bottom, top_pad = 640, 360, 60, 50, 40
    plot_h = height - bottom - top_pad
    group_w = (width - left - 20) / max(1, len(sizes))
    bar_w = group_w / (len(SERIES) + 1)

    def y(ms: float) -> float:
        return top_pad + plot_h * (1 - ms / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="20" font-size="13">Warm query latency, ms '
        f"(light: p50, dark: p95)</text>",
    ]
    for tick in range(0, int(top) + 1, max(50, int(top / 6) // 50 * 50)):
        parts.append(
            f'<line x1="{left}" x2="{width - 20}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#eee"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    for ms, label in TARGETS:
        parts.append(
            f'<line x1="{left}" x2="{width - 20}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" '
            f'stroke="#c00" stroke-dasharray="4 3"/><text x="{width - 22}" y="{y(ms) - 3:.1f}" '
            f'text-anchor="end" fill="#c00">{label}</text>'
        )
    for i, size in enumerate(sizes):
        x0 = left + i * group_w + bar_w / 2
        for j, (_, group, key, light, dark) in enumerate(SERIES):
            stats = results["sizes"][size][group][key]
            x = x0 + j * bar_w
            for ms, colour in ((stats["p95_ms"], dark), (stats["p50_ms"], light)):
                parts.append(
                    f'<rect x="{x:.1f}" y="{y(ms):.1f}" width="{bar_w * 0.9:.1f}" '
                    f'height="{y(0) - y(ms):.1f}" fill="{colour}"/>'
                )
        parts.append(
            f'<text x="{x0 + bar_w * len(SERIES) / 2:.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{escape(size)} passages</text>'
        )
    for j, (label, _, _, _, dark) in enumerate(SERIES):
        lx = left + j * 170
        parts.append(
            f'<rect x="{lx}" y="{height - 18}" width="10" height="10" fill="{dark}"/>'
            f'<text x="{lx + 14}" y="{height - 9}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
