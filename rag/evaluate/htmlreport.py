"""The HTML report: one self-contained page, inline CSS and SVG charts, everything escaped."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from .report import RATES, SHOWN, fmt
from .runner import Report

_COLORS = {"ours": "#2f6fb3", "naive": "#d08a2c", "baseline": "#9aa0a6"}
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}.bad{color:#b00020}
.good{color:#1b7f3b}.case{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:1em 0}
blockquote{margin:.3em 0 .3em 1em;color:#444;border-left:3px solid #ccc;padding-left:.6em}
.muted{color:#777}svg text{font:12px system-ui,sans-serif}
"""


def _bars(rows: list[tuple[str, dict[str, float | None]]], title: str) -> str:
    """Horizontal grouped bars in [0, 1]: one group per label, one bar per series."""
    series = sorted({s for _, vals in rows for s in vals}, key=lambda s: list(_COLORS).index(s))
    bar, gap, label_w, width = 12, 8, 190, 360
    height = len(rows) * (len(series) * bar + gap) + 30
    out = [f'<svg width="{label_w + width + 70}" height="{height}" role="img">']
    out.append(f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>')
    y = 24
    for label, vals in rows:
        out.append(f'<text x="0" y="{y + bar}">{escape(label)}</text>')
        for s in series:
            v = vals.get(s)
            w = 0.0 if v is None else max(0.0, min(1.0, float(v))) * width
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 2}" '
                f'fill="{_COLORS[s]}"><title>{escape(s)}: {fmt(v)}</title></rect>'
            )
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 3}">{fmt(v)}</text>')
            y += bar
        y += gap
    out.append("</svg>")
    legend = " ".join(f'<span style="color:{_COLORS[s]}">■</span> {escape(s)}' for s in series)
    return "".join(out) + f"<div class=muted>{legend}</div>"


def _histogram(values: list[float], title: str, bins: int = 12) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    step = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    w, h, bw = 420, 140, 420 / bins
    top = max(counts)
    out = [f'<svg width="{w + 20}" height="{h + 50}" role="img">']
    out.append(f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>')
    for i, c in enumerate(counts):
        bh = c / top * h
        out.append(
            f'<rect x="{i * bw:.1f}" y="{20 + h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
            f'fill="{_COLORS["ours"]}"><title>{lo + i * step:.2f}–{lo + (i + 1) * step:.2f}s: '
            f"{c}</title></rect>"
        )
    out.append(f'<text x="0" y="{h + 36}">{lo:.2f}s</text>')
    out.append(f'<text x="{w - 40}" y="{h + 36}">{hi:.2f}s</text>')
    out.append("</svg>")
    return "".join(out)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _case_html(c: Any) -> str:
    parts = [
        f'<div class="case"><b>{escape(c.id)}</b> <span class=muted>{escape(", ".join(c.tags))}'
        f"{'' if c.answerable else ' · should refuse'}</span>"
    ]
    for q, a in c.history:
        parts.append(f"<div class=muted>earlier: {escape(q)} → {escape(a)}</div>")
    parts.append(f"<div><b>Q:</b> {escape(c.question)}</div>")
    parts.append(f"<div><b>A:</b> {escape(c.answer)}</div>")
    if c.reference:
        parts.append(f"<div class=muted><b>reference:</b> {escape(c.reference)}</div>")
    scores = ", ".join(f"{k}={fmt(v)}" for k, v in c.metrics.items() if v is not None)
    parts.append(f"<div class=muted>{escape(scores)}</div>")
    for cit in c.citations:
        parts.append(f"<blockquote>[{cit['n']}] {escape(cit['quote'])}</blockquote>")
    parts.append("<details><summary>retrieved passages</summary>")
    for p in c.passages:
        parts.append(
            f"<blockquote><b>{escape(p['title'])}</b> {escape(p['text'][:400])}</blockquote>"
        )
    parts.append("</details>")
    if c.naive:
        parts.append(f"<div class=muted><b>naive:</b> {escape(c.naive['answer'])}</div>")
    parts.append("</div>")
    return "".join(parts)


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, everything escaped)."""
    systems = list(report.aggregates)
    p = [f"<!doctype html><meta charset=utf-8><title>{escape(report.suite)} eval</title>"]
    p.append(f"<style>{_CSS}</style><h1>{escape(report.suite)}</h1>")
    s = report.settings
    p.append(
        f"<p class=muted>{len(report.cases)} cases · k={s['k']} · "
        f"answerer {escape(str(s['answerer']))}"
        f" · {escape(report.started)} · {report.seconds:.0f}s</p>"
    )
    header = ["metric", *systems]
    if report.baseline:
        header += ["baseline", "Δ"]
    rows = []
    for name in SHOWN:
        row = [escape(name)] + [fmt(report.aggregates[x].get(name), name) for x in systems]
        if report.baseline:
            d = report.baseline["deltas"].get(name)
            cls = "bad" if name in report.baseline["regressions"] else ""
            row += [
                fmt(report.baseline["aggregates"].get(name), name),
                f'<span class="{cls}">{"—" if d is None else f"{d:+.3f}"}</span>',
            ]
        rows.append(row)
    p.append("<h2>Metrics</h2>" + _table(header, rows))
    if report.baseline:
        b = report.baseline
        p.append(
            "<p><b>Regressions:</b> "
            f"<span class=bad>{escape(', '.join(b['regressions']) or 'none')}"
            f"</span> · cases now failing: {escape(', '.join(b['cases_regressed']) or 'none')}"
            f" · cases fixed: {escape(', '.join(b['cases_fixed']) or 'none')}</p>"
        )
    if report.thresholds:
        p.append(
            _table(
                ["threshold", "min", "value", ""],
                [
                    [
                        escape(t["metric"]),
                        f"{t['min']}",
                        fmt(t["value"], t["metric"]),
                        "<span class=good>ok</span>"
                        if t["passed"]
                        else "<span class=bad>below</span>",
                    ]
                    for t in report.thresholds
                ],
            )
        )
    p.append(
        _bars(
            [
                (n, {x: report.aggregates[x].get(n) for x in systems})
                for n in RATES
                if any(report.aggregates[x].get(n) is not None for x in systems)
            ],
            "Metrics, ours vs naive",
        )
    )
    p.append("<h2>Per tag / question type</h2>")
    tag_rows = []
    for tag, agg in report.by_tag["ours"].items():
        row = [escape(tag), f"{int(agg['cases'] or 0)}"]
        row += [
            fmt(agg.get(n)) for n in ("pass_rate", "recall", "answer_correct", "refusal_recall")
        ]
        if "naive" in report.by_tag:
            row.append(fmt(report.by_tag["naive"][tag].get("recall")))
        tag_rows.append(row)
    tag_header = ["tag", "cases", "pass", "recall", "answer_correct", "refusal_recall"]
    p.append(_table(tag_header + (["naive recall"] if "naive" in report.by_tag else []), tag_rows))
    p.append(
        _bars(
            [
                (f"{tag} recall", {x: report.by_tag[x][tag].get("recall") for x in systems})
                for tag in report.by_tag["ours"]
            ]
            + [
                (f"{tag} pass", {"ours": report.by_tag["ours"][tag].get("pass_rate")})
                for tag in report.by_tag["ours"]
            ],
            "Per type: retrieval recall and pass rate",
        )
    )
    if report.modes:
        cols = list(next(iter(report.modes.values())))
        p.append("<h2>Retrieval comparison</h2>")
        p.append(
            _table(
                ["mode", *cols],
                [
                    [escape(mode), *[fmt(a.get(c), c) for c in cols]]
                    for mode, a in report.modes.items()
                ],
            )
        )
    cal = report.calibration
    if cal:
        p.append("<h2>Refusal threshold (P(answerable), RAG_ANSWER_THRESHOLD)</h2>")
        dist = cal["distribution"]
        qs = [k for k in next(iter(dist.values())) if k != "n"]
        p.append(
            _table(
                ["", "n", *qs],
                [[escape(g), fmt(d["n"])[:-4], *[fmt(d[q]) for q in qs]] for g, d in dist.items()],
            )
        )
        p.append(
            _table(
                ["threshold", "refusal precision", "refusal recall", "false refusals"],
                [
                    [
                        f"{r['threshold']:.1f}",
                        fmt(r["refusal_precision"]),
                        fmt(r["refusal_recall"]),
                        fmt(r["false_refusal_rate"]),
                    ]
                    for r in cal["sweep"]
                ],
            )
        )
    p.append("<h2>Latency</h2>")
    p.append(_histogram([c.latency for c in report.cases], "rag.answer() seconds per case"))
    failing = report.failures
    p.append(f"<h2>Failing cases ({len(failing)})</h2>")
    p.extend(_case_html(c) for c in failing)
    p.append("<h2>All cases</h2><details><summary>questions and answers</summary>")
    p.append(
        _table(
            ["id", "question", "answer", "pass"],
            [
                [escape(c.id), escape(c.question), escape(c.answer[:300]), "✓" if c.passed else "✗"]
                for c in report.cases
            ],
        )
    )
    p.append("</details>")
    return "".join(p)


def write_html(report: Report, path: str | Path) -> None:
    Path(path).write_text(render_html(report), encoding="utf-8")
