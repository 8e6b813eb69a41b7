"""The offline, deterministic answerer: quotes the sentences that best answer the question.

Every sentence of the answer is a verbatim sentence of a retrieved passage followed by
its marker, so the answer is faithful by construction, and text inside an article
(including anything that looks like instructions) can only ever be quoted, never obeyed.

How it decides (every constant is a field of :class:`AnswererConfig`):

1. Candidate sentences are ranked cheaply (embedding similarity and word overlap), then the
   best few (and, for a question naming several outlets, the best few of each outlet) are
   judged by the cross-encoder against the question, its filler dropped and typos corrected.
2. Answerability is a calibrated probability over several signals (``answerability.py``);
   below the operating point the answer is refused. A multi-part question is refused only
   when none of its parts is supported; an unsupported part is named in the answer.
3. The answer quotes the best sentence (for who/which/when/how-many questions, preferring
   sentences that name something of the asked type the question does not), runners-up
   that add something, and one sentence per supported part, in date order for questions
   about time. Summary requests quote the article's lead.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..text import (
    ASKED_TYPE,
    SOURCE_CHOICE,
    conflicting_compound,
    content_terms,
    looks_like_heading,
    refusal_text,
    with_marker,
)
from ..types import Answer, Citation, PartTrace, Passage, Trace
from .answerability import Coverage, cover, load_model, measure, name_coverage
from .citations import Sentence, citation, passage_sentences
from .evidence import (
    Scored,
    add_bridge_entity,
    names_asked_type,
    short,
    spread,
    trace_candidates,
    without,
)
from .question import Question, Vocabulary, analyze

if TYPE_CHECKING:
    from ..models import Embedder, Reranker

Vectors = dict[tuple[str, int, int], Any]  # sentence key -> unit vector

__all__ = ["AnswererConfig", "Decision", "ExtractiveAnswerer", "refusal_text", "with_marker"]


# The highest logit the ms-marco cross-encoder gives a relevant pair, for the early refusal.
CE_CEILING = 11.0


@dataclass(frozen=True)
class AnswererConfig:
    """Every constant of the extractive answerer. Fitted ones say on what."""

    # The operating point: refuse when P(answerable) is below it. None: the threshold fitted
    # with the model on the tuning parts (answerability.json).
    threshold: float | None = None
    # Sentences the cross-encoder judges (about 15 ms each on 2 CPUs): overall, and per part.
    # (Judging only the best 3 of the cheap ranking gave the same aggregates on the tuning
    # parts of MultiHop, seed and RealTimeQA, but lost 3 of 40 RealTimeQA and 1 of 19 seed
    # test questions: not kept.)
    candidates: int = 7
    part_candidates: int = 3
    # The cheap preselection: weights of cosine and word overlap, and a small penalty per
    # rank of the passage a sentence comes from.
    cheap_dense: float = 0.75
    cheap_overlap: float = 0.25
    cheap_rank: float = 0.005
    max_sentences: int = 3
    # Runners-up may be weaker than the best sentence (logits), but not by much: a fact has
    # one best sentence, while a reason ("why ...?") is spread over several.
    runner_up_gap: float = 3.0
    runner_up_gap_explain: float = 6.0
    runner_up_floor: float = -5.0
    redundant: float = 0.8  # cosine above which a runner-up repeats a chosen sentence
    # A part of a multi-part question is supported when its best sentence reaches this logit;
    # its best sentence is quoted (when the question is answered) from a lower logit on.
    part_min: float = -6.0
    # (fitted on the MultiHop tuning part: -6, -9, -12 cited every evidence article in 0.42,
    # 0.49, 0.55 of comparison/temporal questions, with the same answer_correct at -9 and -12)
    part_quote_min: float = -12.0
    # Logit bonus for a sentence that names something of the asked type the question does not
    # (a person for "who", a date for "when", a number for "how many").
    entity_bonus: float = 2.0
    # A who answer opens with a person's name that the best quote names beside others when
    # the judged sentences name it (weighted by logit) this many times as much as any other.
    clear_lead: float = 2.0
    summary_sentences: int = 3


@dataclass(frozen=True)
class Decision:
    """The answerer's judgement of one question: what to quote, and the trace of why."""

    chosen: tuple[Scored, ...]
    trace: Trace
    notes: tuple[str, ...] = ()  # sentences of our own: uncovered parts
    opening: str = ""  # "Yes."/"No." of a yes/no question, the name a who/which one asks for
    unsupported: tuple[str, ...] = ()  # the parts the articles do not support
    considered: tuple[Scored, ...] = ()  # every sentence judged, for a synthesis to draw on

    @property
    def refused(self) -> bool:
        return not self.chosen


class ExtractiveAnswerer:
    """Picks supporting sentences, drops redundant ones, cites each; refuses when unsupported."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        reranker: Reranker,
        config: AnswererConfig | None = None,
        model: Any = None,
    ) -> None:
        self.embedder = embedder
        self.reranker = reranker
        self.config = config or AnswererConfig()
        self.model = model or load_model()

    @property
    def threshold(self) -> float:
        t = self.config.threshold
        return float(self.model.threshold if t is None else t)

    # ------------------------------------------------------------------------- scoring
    def _embed(self, sentences: Sequence[Sentence], vectors: Vectors) -> None:
        """Add the vectors of the sentences that have none yet: those stored at ingest, and
        the others embedded in one batch."""
        todo = []
        for s in dict.fromkeys(sentences):
            if s.key not in vectors:
                if s.vector is not None:
                    vectors[s.key] = s.vector
                else:
                    todo.append(s)
        if todo:
            found = self.embedder.encode([s.text for s in todo])
            vectors.update(zip((s.key for s in todo), found, strict=True))

    def _preselect(
        self, query: str, sentences: list[Sentence], vectors: Vectors | None, limit: int
    ) -> list[tuple[float, Sentence, float]]:
        """Rank cheaply: cosine (when ``vectors`` are given) and word overlap with ``query``."""
        cfg = self.config
        qv = self.embedder.encode([query])[0] if vectors is not None else None
        q_terms = content_terms(query)
        ranked = []
        for sent in sentences:
            d = float(vectors[sent.key] @ qv) if vectors is not None else 0.0
            overlap = len(q_terms & content_terms(sent.text)) / len(q_terms) if q_terms else 0.0
            cheap = cfg.cheap_dense * d + cfg.cheap_overlap * overlap - cfg.cheap_rank * sent.rank
            ranked.append((cheap, sent, d))
        ranked.sort(key=lambda c: -c[0])
        return ranked[:limit]

    def _judge(
        self, question: str, picked: list[tuple[float, Sentence, float]], part: str = ""
    ) -> list[Scored]:
        if not picked:
            return []
        logits = self.reranker.score(question, [s.text for _, s, _ in picked])
        return [
            Scored(s, float(x), d, c, part, float(x))
            for (c, s, d), x in zip(picked, logits.tolist(), strict=True)
        ]

    def decide(
        self,
        question: str,
        query: str,
        passages: Sequence[Passage],
        analysis: Question | None = None,
        main: int | None = None,
    ) -> Decision:
        """Judge the candidates, decide answerability and choose the sentences to quote.

        ``passages[:main]`` were retrieved for the whole question, the rest for its parts
        (or a summary's lead); only the first are embedded to rank candidates."""
        cfg = self.config
        q = analysis or analyze(question, sorted({p.source for p in passages if p.source}))
        vocab = Vocabulary([f"{p.title} {p.source} {p.text}" for p in passages])
        judged = vocab.correct(q.plain)
        sentences = [s for s in passage_sentences(passages) if not looks_like_heading(s.text)]
        if not sentences:
            trace = Trace(kind=q.kind, decision="refused: no sentences", question=judged)
            return Decision((), trace)
        if q.kind == "summary":
            return self._summary(q, judged, passages, sentences, vocab)
        covered = cover(q, passages, vocab)
        ceiling = None if q.multi else self._ceiling(q, covered, sentences)
        if ceiling is not None and ceiling < self.threshold:
            # Not answerable even if the cross-encoder liked a sentence as much as it can.
            reason = f"refused: P(answerable) at most {ceiling:.2f} < {self.threshold:.2f}"
            trace = Trace(
                kind=q.kind,
                probability=round(ceiling, 4),
                threshold=self.threshold,
                decision=reason,
                missing=covered.missing,
                question=judged,
            )
            return Decision((), trace)
        cut = len(passages) if main is None else main
        ranked_pool = [s for s in sentences if s.rank < cut] or sentences
        vectors: Vectors = {}
        self._embed(ranked_pool, vectors)
        search = vocab.correct(query) if query != question else judged
        scored = self._judge(judged, self._preselect(search, ranked_pool, vectors, cfg.candidates))
        # A sentence about the "intermediate-range" missile does not answer a question about
        # the "short-range" ones.
        fits = [not conflicting_compound(judged, s.sentence.text) for s in scored]
        conflicts = [s for s, ok in zip(scored, fits, strict=True) if not ok]
        scored = [s for s, ok in zip(scored, fits, strict=True) if ok]
        part_scored: list[list[Scored]] = []
        for part in q.parts:
            outlet = part.sources[0]
            own = [s for s in sentences if s.passage.source == outlet]
            dated = [s for s in own if s.passage.published in part.dates]
            own = dated or own
            # The outlet's name is what the part is filtered by, not what its sentences say.
            text = vocab.correct(without(part.text, outlet))
            # The best sentence of each of the outlet's articles, so that two parts about
            # one outlet can be answered from two of its articles.
            picked = spread(self._preselect(text, own, None, len(own)))
            judged_part = self._judge(text, picked[: cfg.part_candidates], outlet)
            part_scored.append(sorted(judged_part, key=lambda s: -s.logit))
        scored.sort(key=lambda s: -s.logit)
        part_best = [ps[0].logit if ps else -12.0 for ps in part_scored]
        best_dense = max((s.dense for s in scored), default=0.0)
        typed = [
            s.logit for s in scored if q.kind != "entity" or names_asked_type(q, s.sentence.text)
        ]
        signals = measure(covered, [s.logit for s in scored], part_best, best_dense, typed)
        probability = self.model.probability(signals)
        # "How old ...?" is not answered by sentences that hold no age.
        kind = ASKED_TYPE.get(q.asks)
        untyped = kind if kind is not None and not typed and not q.parts else ""
        parts = tuple(
            PartTrace(p.text, p.sources, round(b, 3), b >= cfg.part_min)
            for p, b in zip(q.parts, part_best, strict=True)
        )
        supported_parts = [p for p in parts if p.supported]
        # A question naming several outlets is refused only when none of them supports it.
        # (Letting one supported clause of a compound question do the same declined fewer
        # MultiHop null questions on the tuning part, 0.947 -> 0.842: clauses only add notes.)
        answerable = probability >= self.threshold or (q.multi and bool(supported_parts))
        answerable = answerable and not untyped
        base = Trace(
            kind=q.kind,
            signals={k: round(v, 4) for k, v in signals.items()},
            probability=round(probability, 4),
            threshold=self.threshold,
            missing=covered.missing,
            parts=parts,
            question=judged,
        )
        everything = scored + [s for ps in part_scored for s in ps] + conflicts
        if not answerable:
            reason = f"refused: P(answerable) {probability:.2f} < {self.threshold:.2f}"
            if untyped:
                reason = f"refused: no candidate sentence names the {untyped} asked for"
            trace = replace(
                base, decision=reason, candidates=trace_candidates(everything, {}, reason)
            )
            return Decision((), trace)

        self._embed([s.sentence for ps in part_scored for s in ps], vectors)
        chosen, why, lead = self._select(q, scored, part_scored, vectors, sentences)
        everything += [c for c in chosen if c not in everything]
        if (
            kind is not None
            and not q.parts
            and not any(names_asked_type(q, c.sentence.text) for c in chosen)
        ):
            # "How much will X cost?" is not answered by quotes that name no amount, even
            # when a weaker candidate names one about something else.
            reason = f"refused: no quoted sentence names the {kind} asked for"
            trace = replace(
                base, decision=reason, candidates=trace_candidates(everything, {}, reason)
            )
            return Decision((), trace)
        # A who/which answer opens with the name, cited to the first quote that spells it.
        holder = next((i for i, c in enumerate(chosen) if lead and lead in c.sentence.text), -1)
        if holder > 0 and not q.temporal:  # markers read in order: its quote comes first
            chosen.insert(0, chosen.pop(holder))
            holder = 0
        opening = f"{lead} [{holder + 1}]." if holder >= 0 else ""
        quoted = {why.get(c.sentence.key, "") for c in chosen}
        uncovered = [p for p in parts if not p.supported and f"part: {p.sources[0]}" not in quoted]
        # A part whose best sentence is quoted although it falls short of support says so.
        notes = tuple(
            f"The articles from {p.sources[0]} don't "
            f"{'cover' if p in uncovered else 'clearly cover'} this part: “{short(p.text)}”."
            for p in parts
            if not p.supported
        )
        if (q.kind == "yes_no" or q.choice) and parts:
            # Supported parts say yes to what they assert; a question that asserts a
            # negation or a change ("did X fail to ...") gets the opposite. An either-or
            # question gets the word of its choice that the yes or no stands for.
            yes = all(p.supported for p in parts) != q.negated
            verdict = ("yes", "no") if not q.choice else q.choice
            opening = f"{verdict[0 if yes else 1].capitalize()}."
        if q.which_source:
            # "Which of the two articles ...?": the outlet whose best sentence fits it best,
            # its quote first.
            best = self._choose_source(q, sentences)
            if best is not None:
                chosen[:] = [best] + [c for c in chosen if c.sentence.key != best.sentence.key]
                why[best.sentence.key] = f"answers: {short(q.which_source, 40)}"
                everything.append(best)
                opening = SOURCE_CHOICE.format(outlet=best.part)
        unsupported = tuple(p.text for p in parts if not p.supported)
        if q.clauses:
            clause_scored = [self._judge_clause(c, ranked_pool, vectors) for c in q.clauses]
            missed = self._add_clauses(q.clauses, clause_scored, chosen, why, everything)
            notes += tuple(f"The articles don't cover this part: “{short(c)}”." for c in missed)
            unsupported += missed
        decision = "partly answered" if notes else "answered"
        trace = replace(
            base, decision=decision, candidates=trace_candidates(everything, why, "not chosen")
        )
        return Decision(tuple(chosen), trace, notes, opening, unsupported, tuple(everything))

    def _choose_source(self, q: Question, sentences: Sequence[Sentence]) -> Scored | None:
        """The sentence, among the best few of each outlet the question names, that the
        cross-encoder finds best answers its "which ..." clause."""
        found: list[Scored] = []
        for part in q.parts:
            outlet = part.sources[0]
            own = [s for s in sentences if s.passage.source == outlet]
            picked = self._preselect(q.which_source, own, None, self.config.part_candidates)
            found.extend(self._judge(q.which_source, picked, outlet))
        return max(found, key=lambda s: s.logit, default=None)

    def _judge_clause(self, clause: str, pool: list[Sentence], vectors: Vectors) -> list[Scored]:
        picked = self._preselect(clause, pool, vectors, self.config.part_candidates)
        return sorted(self._judge(clause, picked, ""), key=lambda s: -s.logit)

    def _add_clauses(
        self,
        texts: Sequence[str],
        judged: list[list[Scored]],
        chosen: list[Scored],
        why: dict[tuple[str, int, int], str],
        everything: list[Scored],
    ) -> tuple[str, ...]:
        """Quote the best sentence of each supported clause (if not quoted yet); return the
        clauses no sentence supports."""
        cfg = self.config
        missed: list[str] = []
        for clause, found in zip(texts, judged, strict=True):
            everything.extend(found)
            if not found or found[0].logit < cfg.part_min:
                missed.append(clause)
                continue
            best = found[0]
            quoted = {c.sentence.key for c in chosen}
            if best.sentence.key not in quoted and len(chosen) <= cfg.max_sentences:
                chosen.append(best)
                why[best.sentence.key] = f"clause: {short(clause, 40)}"
        return tuple(missed)

    def _ceiling(self, q: Question, covered: Coverage, sentences: Sequence[Sentence]) -> float:
        """The highest probability any cross-encoder judgement could give (the weights are
        non-negative): under the threshold, the question's names and words are missing from
        the passages and no sentence needs judging."""
        typed = any(names_asked_type(q, s.text) for s in sentences) or q.kind != "entity"
        top = CE_CEILING
        best = measure(covered, [top, top], [top], 1.0, [top] if typed else [])
        return float(self.model.probability(best))

    # ----------------------------------------------------------------------- selection
    def _select(
        self,
        q: Question,
        scored: list[Scored],
        part_scored: list[list[Scored]],
        vectors: Vectors,
        pool: Sequence[Sentence] = (),
    ) -> tuple[list[Scored], dict[tuple[str, int, int], str], str]:
        """The sentences to quote, why each was kept, and the name a who/which answer
        opens with ("" for none)."""
        cfg = self.config
        ranked = sorted((self._bonus(q, s) for s in scored), key=lambda s: -s.score)
        why: dict[tuple[str, int, int], str] = {}
        chosen: list[Scored] = []

        def repeats(cand: Scored) -> bool:
            vec = vectors[cand.sentence.key]
            return any(
                c.sentence.key == cand.sentence.key
                or float(vec @ vectors[c.sentence.key]) >= cfg.redundant
                for c in chosen
            )

        if q.parts:
            used_docs: dict[str, set[str]] = {}
            for part, judged in zip(q.parts, part_scored, strict=True):
                outlet = part.sources[0]
                options = [self._bonus(q, s) for s in judged]
                options.sort(key=lambda s: -s.score)
                taken = used_docs.setdefault(outlet, set())
                for cand in options:
                    if cand.logit < cfg.part_quote_min:
                        break
                    # Two parts about the same outlet are two of its articles.
                    if cand.sentence.passage.doc_id in taken or repeats(cand):
                        continue
                    chosen.append(cand)
                    taken.add(cand.sentence.passage.doc_id)
                    why[cand.sentence.key] = f"part: {outlet}"
                    break
            if ranked and not chosen:
                chosen.append(ranked[0])
                why[ranked[0].sentence.key] = "best"
            elif q.kind == "entity" and ranked and not repeats(ranked[0]):
                chosen.insert(0, ranked[0])
                why[ranked[0].sentence.key] = "best"
            judged = ranked + [s for ps in part_scored for s in ps]
            lead = add_bridge_entity(q, judged, chosen, why, pool, cfg.clear_lead)
            if q.temporal:
                chosen.sort(key=lambda s: s.sentence.passage.published or dt.date.max)
            return chosen, why, lead

        if not ranked:
            return [], why, ""
        chosen.append(ranked[0])
        why[ranked[0].sentence.key] = "best"
        gap = cfg.runner_up_gap_explain if q.kind == "explain" else cfg.runner_up_gap
        floor = max(ranked[0].score - gap, cfg.runner_up_floor)
        for cand in ranked[1:]:
            if len(chosen) >= cfg.max_sentences or cand.score < floor:
                break
            if not repeats(cand):
                chosen.append(cand)
                why[cand.sentence.key] = "runner-up"
        lead = add_bridge_entity(q, ranked, chosen, why, pool, cfg.clear_lead)
        return chosen, why, lead

    def _bonus(self, q: Question, s: Scored) -> Scored:
        """The entity bonus for who/which/when/how-many questions."""
        if q.kind != "entity" or not names_asked_type(q, s.sentence.text):
            return s
        return replace(s, score=s.logit + self.config.entity_bonus)

    def _summary(
        self,
        q: Question,
        judged: str,
        passages: Sequence[Passage],
        sentences: list[Sentence],
        vocab: Vocabulary,
    ) -> Decision:
        """The lead sentences of the article the request names (the best-matching one)."""
        coverage, missing = name_coverage(q.plain, vocab)
        if coverage < 0.5:
            reason = "refused: the article asked for is not in the passages"
            trace = Trace(kind=q.kind, decision=reason, missing=tuple(missing), question=judged)
            return Decision((), trace)
        doc = passages[0].doc_id
        lead = sorted((s for s in sentences if s.passage.doc_id == doc), key=lambda s: s.start)
        chosen = [Scored(s, 0.0, 0.0, 0.0) for s in lead[: self.config.summary_sentences]]
        why = {s.sentence.key: "lead" for s in chosen}
        trace = Trace(
            kind=q.kind,
            decision="answered",
            candidates=trace_candidates(chosen, why, ""),
            question=judged,
            missing=tuple(missing),
        )
        return Decision(tuple(chosen), trace)

    # ------------------------------------------------------------------------- answer
    def generate(
        self,
        question: str,
        query: str,
        passages: Sequence[Passage],
        analysis: Question | None = None,
        main: int | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer sentence by sentence, then the full Answer."""
        decision = self.decide(question, query, passages, analysis, main)
        yield from self.render(decision, query, passages)

    def render(
        self, decision: Decision, query: str, passages: Sequence[Passage]
    ) -> Iterator[str | Answer]:
        """The decision's quotes (or refusal) as text pieces, then the full Answer."""
        if decision.refused:
            text = refusal_text(passages, decision.trace.missing)
            yield text
            yield Answer(
                text=text,
                refused=True,
                query=query,
                passages=tuple(passages),
                answerer=self.name,
                trace=decision.trace,
            )
            return
        citations: list[Citation] = []
        pieces: list[str] = []
        if decision.opening:
            pieces.append(decision.opening)
            yield decision.opening
        for item in decision.chosen:
            n = len(citations) + 1
            citations.append(citation(n, item.sentence, sigmoid(item.logit)))
            piece = with_marker(item.sentence.text, n)
            pieces.append(piece)
            yield piece if len(pieces) == 1 else " " + piece
        for note in decision.notes:
            pieces.append(note)
            yield " " + note
        yield Answer(
            text=" ".join(pieces),
            citations=tuple(citations),
            refused=False,
            query=query,
            passages=tuple(passages),
            answerer=self.name,
            unsupported=decision.unsupported,
            trace=decision.trace,
        )


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
