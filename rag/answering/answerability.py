"""Is a question answerable from the retrieved passages? A calibrated decision over signals.

The signals are measured on every question (the cross-encoder's judgement of the best
sentences, how much of the question the passages cover, names found despite typos, title
matches, retrieval similarity). A logistic regression fitted on the *tuning* part of the
eval suites (``evals/fit_answerability.py``) turns them into a probability; the answer is
refused below the operating point ``RAG_ANSWER_THRESHOLD``. The fitted weights live in
``answerability.json`` beside this file, with the precision/recall curve they were chosen on.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..text import GENERIC, MONTHS, WEEKDAYS, content_words, names, words
from ..types import Passage
from .question import Question, Vocabulary

MODEL_FILE = Path(__file__).with_name("answerability.json")

# The signals, in the model's order. Each is a plain float measured per question.
SIGNALS = (
    "ce_best",  # the cross-encoder's best sentence logit against the question
    "ce_second",  # the runner-up's logit (support spread over several sentences)
    "ce_part_min",  # multi-part questions: the weakest part's best logit (else ce_best)
    "ce_typed",  # who/when/how-many questions: the best logit of a sentence naming the asked type
    "coverage",  # share of the question's content words found in the passages
    "name_coverage",  # share of the question's names found (full names weigh double)
    "title_overlap",  # best share of the question's content words in one title
    "dense_top",  # cosine of the question and the best passage
    "sentence_dense",  # cosine of the question and the best sentence
)


@dataclass(frozen=True)
class Model:
    """A logistic regression over standardised signals, and its operating point."""

    weights: Mapping[str, float]
    bias: float
    mean: Mapping[str, float]
    scale: Mapping[str, float]
    threshold: float

    def probability(self, signals: Mapping[str, float]) -> float:
        z = self.bias
        for name, w in self.weights.items():
            x = (signals.get(name, 0.0) - self.mean.get(name, 0.0)) / (self.scale.get(name) or 1.0)
            z += w * x
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


# Used only when answerability.json is missing (a source tree before the first fit): the
# best sentence's logit alone, centred near where answerable and unanswerable cases part.
_FALLBACK = Model({"ce_best": 2.0}, 0.0, {"ce_best": -2.0}, {"ce_best": 1.0}, 0.5)


@functools.lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> Model:
    """The fitted model; the single-signal fallback only when none was ever fitted."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _FALLBACK
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"the answerability model {path} cannot be read ({exc}): reinstall the package "
            "or fit it again with `python evals/fit_answerability.py`"
        ) from None
    try:
        return Model(
            weights=dict(data["weights"]),
            bias=float(data["bias"]),
            mean=dict(data["mean"]),
            scale=dict(data["scale"]),
            threshold=float(data["threshold"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"the answerability model {path} lacks {exc}: fit it again with "
            "`python evals/fit_answerability.py`"
        ) from None


# Capitalised words that name no one: generic words, and months and weekdays (a date is a
# matter of when an article was published, not a name its text must hold).
_NOT_NAMED = GENERIC | frozenset(MONTHS) | frozenset(WEEKDAYS)


def name_coverage(question: str, vocab: Vocabulary) -> tuple[float, list[str]]:
    """Share of the question's names the passages mention (full names weigh double, and
    one whose last word alone is mentioned, "Kenwright" for "Bill Kenwright", counts half),
    and the names they do not mention. Matching forgives typos and case ("blinkin")."""
    found = [
        n for n in names(question, question=True) if any(w not in _NOT_NAMED for w in words(n))
    ]
    if not found:
        return 1.0, []
    missing: list[str] = []
    lost = 0.0
    for n in found:
        ws = [w for w in words(n) if w not in _NOT_NAMED]
        if vocab.covers(" ".join(ws)):
            continue
        missing.append(n)
        surname = len(ws) > 1 and ws[-1] in vocab.words
        lost += _weight(n) / 2 if surname else _weight(n)
    total = sum(_weight(n) for n in found)
    return 1.0 - lost / total, missing


def _weight(name: str) -> int:
    return 2 if len(name.split()) > 1 else 1


@dataclass(frozen=True)
class Coverage:
    """The signals that need no cross-encoder: how much of the question the passages cover,
    and the names of the question no passage mentions."""

    signals: dict[str, float]
    missing: tuple[str, ...]


def cover(question: Question, passages: Sequence[Passage], vocab: Vocabulary) -> Coverage:
    """Coverage of the question's content words and names, title overlap, best cosine."""
    asked = content_words(question.plain)
    covered = [w for w in asked if vocab.match(w) is not None]
    title_overlap = 0.0
    if asked:
        for title in {p.title for p in passages if p.title}:
            tv = Vocabulary([title])
            title_overlap = max(
                title_overlap, sum(1 for w in asked if tv.match(w) is not None) / len(asked)
            )
    names_share, missing = name_coverage(question.plain, vocab)
    signals = {
        "coverage": len(covered) / len(asked) if asked else 1.0,
        "name_coverage": names_share,
        "title_overlap": title_overlap,
        "dense_top": max((p.score for p in passages), default=0.0),
    }
    return Coverage(signals, tuple(missing))


def measure(
    covered: Coverage,
    ce: Sequence[float],
    part_best: Sequence[float],
    sentence_dense: float,
    typed: Sequence[float] = (),
) -> dict[str, float]:
    """Every signal for one question; ``ce`` holds the judged logits, best first, and
    ``typed`` those of sentences that name what an entity question asks for."""
    best = ce[0] if ce else -12.0
    return {
        "ce_best": best,
        "ce_second": ce[1] if len(ce) > 1 else best,
        "ce_part_min": min(part_best) if part_best else best,
        "ce_typed": max(typed, default=-12.0),
        **covered.signals,
        "sentence_dense": sentence_dense,
    }
