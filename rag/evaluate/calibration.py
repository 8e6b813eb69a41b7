"""Refusal calibration: P(answerable) per kind of case, and the refusals each operating point
(``RAG_ANSWER_THRESHOLD``) would give. Read from each answer's trace, never re-scored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import metrics as m

if TYPE_CHECKING:
    from .runner import CaseResult

SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def refused_at(result: CaseResult, threshold: float) -> bool:
    """Would the answerer refuse this case at ``threshold``? (A multi-part question with a
    supported part is answered whatever the threshold.)"""
    if result.probability is None:
        return result.refused
    return result.probability < threshold and not result.parts_supported


def calibration(results: Sequence[CaseResult]) -> dict[str, Any]:
    """The distribution of P(answerable) for answerable vs unanswerable cases, and the sweep."""
    scored = [r for r in results if r.probability is not None or r.refused]
    if not scored:
        return {}

    def dist(values: list[float]) -> dict[str, float | None]:
        return {
            "n": float(len(values)),
            **{f"p{q}": m.percentile(values, q) for q in (0, 10, 25, 50, 75, 90, 100)},
        }

    groups = {
        "answerable": [r.probability for r in scored if r.answerable and r.probability is not None],
        "unanswerable": [
            r.probability for r in scored if not r.answerable and r.probability is not None
        ],
    }
    sweep = []
    for t in SWEEP:
        refused = [refused_at(r, t) for r in scored]
        sweep.append({"threshold": t, **m.refusals([not r.answerable for r in scored], refused)})
    return {
        "distribution": {k: dist([v for v in vals if v is not None]) for k, vals in groups.items()},
        "sweep": sweep,
    }
