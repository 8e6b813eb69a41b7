"""Refusal calibration: the cross-encoder logit that decides refusals, per kind of case."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import metrics as m

if TYPE_CHECKING:
    from .runner import CaseResult

SWEEP = (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0)  # RAG_MIN_SCORE values whose refusals are reported


def calibration(results: Sequence[CaseResult]) -> dict[str, Any]:
    """The best sentence's cross-encoder logit for answerable vs unanswerable cases, and the
    refusals each RAG_MIN_SCORE would give (a refusal also happens when a named entity of
    the question is missing from the passages, whatever the threshold)."""
    scored = [r for r in results if r.top_logit is not None or r.refused]
    if not scored:
        return {}

    def dist(values: list[float]) -> dict[str, float | None]:
        return {
            "n": float(len(values)),
            **{f"p{q}": m.percentile(values, q) for q in (0, 10, 25, 50, 75, 90, 100)},
        }

    groups = {
        "answerable": [r.top_logit for r in scored if r.answerable and r.top_logit is not None],
        "unanswerable": [
            r.top_logit for r in scored if not r.answerable and r.top_logit is not None
        ],
    }
    sweep = []
    for t in SWEEP:
        refused = [r.missing_entities or r.top_logit is None or r.top_logit < t for r in scored]
        sweep.append({"min_score": t, **m.refusals([not r.answerable for r in scored], refused)})
    return {
        "distribution": {k: dist([v for v in vals if v is not None]) for k, vals in groups.items()},
        "missing_entity_refusals": {
            "answerable": sum(1 for r in scored if r.answerable and r.missing_entities),
            "unanswerable": sum(1 for r in scored if not r.answerable and r.missing_entities),
        },
        "sweep": sweep,
    }
