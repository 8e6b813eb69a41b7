"""Run a suite: answer every case through ``rag.answer``, score it, aggregate, compare."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..types import Answer, Passage
from . import metrics as m
from .calibration import calibration
from .progress import progress_bar
from .suite import KNOWN_COMPARE, KNOWN_MODES, Case, Suite, load_suite

MODE_CUTOFFS = (4, 10)  # recall@4 and recall@10 in the retrieval comparison; MRR@10
Metrics = dict[str, float | None]
# Larger is better for every metric except these.
LOWER_IS_BETTER = frozenset(["false_refusal_rate", "latency_p50", "latency_p95"])


@dataclass
class CaseResult:
    """One case: what was asked, what came back, and its scores per system."""

    id: str
    question: str
    tags: list[str]
    answerable: bool
    answer: str
    refused: bool
    query: str
    latency: float
    citations: list[dict[str, Any]]
    passages: list[dict[str, Any]]
    metrics: Metrics
    passed: bool
    reference: str = ""
    history: list[list[str]] = field(default_factory=list)
    # The answerer's decision as its trace recorded it (fitting reads these).
    probability: float | None = None
    signals: dict[str, float] = field(default_factory=dict)
    parts_supported: bool = False  # a multi-part question with a supported part
    decision: str = ""
    naive: dict[str, Any] = field(default_factory=dict)
    modes: dict[str, Metrics] = field(default_factory=dict)


@dataclass
class Report:
    """A suite run: per-case results, aggregates per system and tag, comparisons."""

    suite: str
    path: str
    settings: dict[str, Any]
    started: str
    seconds: float
    cases: list[CaseResult]
    aggregates: dict[str, Metrics]  # system ("ours", "naive") -> metric -> value
    by_tag: dict[str, dict[str, Metrics]]  # system -> tag -> metric -> value
    modes: dict[str, Metrics] = field(default_factory=dict)  # retrieval mode -> metric -> value
    calibration: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None
    thresholds: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    @property
    def ok(self) -> bool:
        """No threshold failed."""
        return all(t["passed"] for t in self.thresholds)


def suite_settings(suite: Suite, settings: Settings, index_dir: Path | None) -> Settings:
    """The suite's own index (``<index dir>/evals/<suite>``) over the suite's corpus."""
    changes: dict[str, Any] = {
        "index_dir": index_dir or settings.index_dir / "evals" / suite.name,
    }
    if suite.corpus and suite.corpus[0].is_dir():
        changes["corpus_dir"] = suite.corpus[0]
    if suite.k:
        changes["k"] = suite.k
    return settings.replace(**changes)


def _located(passages: Sequence[Passage]) -> list[tuple[str, Passage]]:
    return [(p.text, p) for p in passages]


def _passage_view(p: Passage) -> dict[str, Any]:
    return {"title": p.title, "url": p.url, "doc_id": p.doc_id, "score": p.score, "text": p.text}


def score_answer(
    case: Case,
    answer: Answer,
    similarity: Callable[[str, str], float],
    judge: Callable[[str, list[str]], bool] | None = None,
) -> Metrics:
    """Every per-case metric of one of our answers."""
    located = _located(answer.passages)
    recall, mrr = m.retrieval(case.sources, located, len(located))
    cited = [(c.quote, c) for c in answer.citations]
    precision, cite_recall = m.citations(case.sources, cited) if case.answerable else (None, None)
    if case.answerable and answer.refused:
        precision = None
    phrases = m.key_phrases(case.must_contain, "" if answer.refused else answer.text)
    # A question about several articles is answered only when every one of them is cited.
    multi = case.answerable and len(case.sources) >= 2
    all_cited = float(not answer.refused and cite_recall == 1.0) if multi else None
    said = m.yes_no(answer.text) if not answer.refused else ""
    yes_no = float(said == case.yes_no) if case.yes_no else None
    out: Metrics = {
        "recall": recall,
        "mrr": mrr,
        "fact_recall": m.fact_recall(case.facts, [p.text for p in answer.passages]),
        "citation_precision": precision,
        "citation_recall": cite_recall,
        "key_phrases": phrases,
        "context_key_phrases": m.key_phrases(
            case.must_contain, " ".join(p.text for p in answer.passages)
        ),
        "answer_correct": _correct(case, phrases, answer.refused, all_cited, yes_no),
        "evidence_cited": all_cited,
        "yes_no_correct": yes_no,
        "entity_answered": phrases if case.must_contain and not answer.refused else None,
        "strict_correct": _strict(case, phrases, answer),
        "partial_flagged": float(not answer.refused and bool(answer.unsupported))
        if case.partial
        else None,
        "similarity": None,
        "faithfulness": None,
    }
    if case.answerable and case.reference:
        out["similarity"] = 0.0 if answer.refused else similarity(answer.text, case.reference)
    if not answer.refused:
        quotes = {c.n: c.quote for c in answer.citations}
        out["faithfulness"] = m.faithfulness(
            answer.text, quotes, None if answer.answerer == "extractive" else judge
        )
    return out


def _correct(
    case: Case,
    phrases: float | None,
    refused: bool,
    all_cited: float | None = None,
    yes_no: float | None = None,
) -> float | None:
    """Right, or rightly refused. A yes/no question needs the right word and every evidence
    article cited; an entity question needs the entity; a refusal of either is wrong."""
    if not case.answerable:
        return float(refused)
    if refused:
        return 0.0
    if case.yes_no:
        return float(yes_no == 1.0 and all_cited in (None, 1.0))
    if phrases is None:
        return None if all_cited is None else all_cited
    return float(phrases == 1.0)


def _strict(case: Case, phrases: float | None, answer: Answer) -> float | None:
    """A quiz answer holds the right choice and none of the wrong ones."""
    if not case.wrong:
        return None
    if answer.refused or phrases != 1.0:
        return 0.0
    return float(not any(m.key_phrases(((w,),), answer.text) for w in case.wrong))


def passed(case: Case, scores: Metrics, refused: bool = False) -> bool:
    """The answer is right, or rightly refused. Refusing an answerable question never passes;
    a case scored on retrieval only passes when some support was retrieved."""
    if case.answerable and refused:
        return False
    if scores.get("answer_correct") is not None:
        return scores["answer_correct"] == 1.0
    recall = scores.get("recall")
    return recall is None or recall > 0


def aggregate(
    cases: Sequence[Case],
    scores: Sequence[Metrics],
    refused: Sequence[bool],
    latency: Sequence[float],
) -> Metrics:
    """Means over the cases each metric applies to, refusal rates, latency percentiles."""
    out: Metrics = {"cases": float(len(cases))}
    names = [n for n in scores[0] if n != "passed"] if scores else []
    for name in names:
        out[name] = m.mean(s.get(name) for s in scores)
    out.update(m.refusals([not c.answerable for c in cases], refused))
    out["latency_p50"] = m.percentile(latency, 50)
    out["latency_p95"] = m.percentile(latency, 95)
    out["pass_rate"] = m.mean(float(s.get("passed") or 0.0) for s in scores)
    return out


def _by_tag(
    cases: Sequence[Case],
    scores: Sequence[Metrics],
    refused: Sequence[bool],
    latency: Sequence[float],
) -> dict[str, Metrics]:
    tags = sorted({t for c in cases for t in c.tags})
    out: dict[str, Metrics] = {}
    for tag in tags:
        idx = [i for i, c in enumerate(cases) if tag in c.tags]
        out[tag] = aggregate(
            [cases[i] for i in idx],
            [scores[i] for i in idx],
            [refused[i] for i in idx],
            [latency[i] for i in idx],
        )
    return out


def mode_scores(case: Case, passages: Sequence[Passage]) -> Metrics:
    """Retrieval-only scores for the mode comparison: recall@4, recall@10, MRR@10."""
    located = _located(passages)
    out: Metrics = {}
    for cut in MODE_CUTOFFS:
        out[f"recall@{cut}"] = m.retrieval(case.sources, located, cut)[0]
    out["mrr@10"] = m.retrieval(case.sources, located, 10)[1]
    out["fact_recall@10"] = m.fact_recall(case.facts, [p.text for p in passages[:10]])
    return out


@dataclass
class Plan:
    """What a suite run covers: the suite, its settings and index, the cases, comparisons."""

    suite: Suite
    settings: Settings
    cases: tuple[Case, ...]
    corpus: list[Path]
    compare: tuple[str, ...]
    modes: tuple[str, ...]
    split: str | None = None
    limit: int | None = None
    as_of: bool = True  # answer a dated case as of its date


@dataclass
class Run:
    """One case as answered and retrieved, before any scoring."""

    case: Case
    answer: Answer
    latency: float
    # Retrieval mode -> the passages it found and the seconds it took.
    modes: dict[str, tuple[list[Passage], float]] = field(default_factory=dict)
    # The naive pipeline's passages, its answer and its seconds (when compared).
    naive: tuple[list[Passage], str, float] | None = None


def plan_suite(
    path: str | Path,
    *,
    settings: Settings | None = None,
    k: int | None = None,
    limit: int | None = None,
    compare: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    index_dir: Path | None = None,
    split: str | None = None,
    as_of: bool = True,
) -> Plan:
    """Load the suite at ``path`` and decide what a run covers (see :func:`run_suite`)."""
    suite = load_suite(path)
    compare = tuple(suite.compare if compare is None else compare)
    modes = tuple(suite.modes if modes is None else modes)
    for name in compare:
        if name not in KNOWN_COMPARE:
            raise ConfigError(f"--compare {name!r}: known pipelines are {', '.join(KNOWN_COMPARE)}")
    for name in modes:
        if name not in KNOWN_MODES:
            raise ConfigError(f"--modes {name!r}: known modes are {', '.join(KNOWN_MODES)}")
    s = suite_settings(suite, settings or Settings.from_env(), index_dir)
    if k:
        s = s.replace(k=k)
    cases = suite.part(split)
    cases = cases[:limit] if limit else cases
    corpus = list(suite.corpus) or [s.corpus_dir]
    return Plan(suite, s, cases, corpus, compare, modes, split, limit, as_of)


def run_cases(plan: Plan, *, progress: bool = False) -> list[Run]:
    """Sync the suite's index, then answer every case (and retrieve with every compared
    mode and pipeline), timing each; nothing is scored here."""
    import rag

    from ..dates import question_time
    from ..pipeline import get_pipeline
    from ..retrieval import Retriever

    s = plan.settings
    rag.ingest(plan.corpus, settings=s)
    pipeline = get_pipeline(s)
    embedder = pipeline.embedder
    naive = None
    if "naive" in plan.compare:
        from .naive import NaivePipeline, load_articles

        naive = NaivePipeline(load_articles(plan.corpus), embedder)
    retrievers = {name: Retriever(pipeline.index, rerank=(name == "rerank")) for name in plan.modes}
    runs: list[Run] = []
    with progress_bar(progress, len(plan.cases), plan.suite.name) as tick:
        for case in plan.cases:
            # Latencies are measured without remembered embeddings: every case pays for
            # its own, as the first question about an article does.
            embedder.forget_recent()
            t0 = time.perf_counter()
            day = case.as_of if plan.as_of and case.as_of else None
            answer = rag.answer(case.question, list(case.history) or None, settings=s, as_of=day)
            run = Run(case, answer, time.perf_counter() - t0)
            # The retrieval modes search as of the same day, with the same date ranges.
            when = question_time(case.question, day, s.recency)
            dated = when.filters(None)
            prior = when.prior if when.latest or when.recency > 0 else None
            for name, retriever in retrievers.items():
                embedder.forget_recent()
                t1 = time.perf_counter()
                mode = "hybrid" if name == "rerank" else name
                found = retriever.retrieve(
                    answer.query,
                    max(MODE_CUTOFFS),
                    dated,
                    mode=mode,
                    boost=when.boost(dated),
                    prior=prior,
                )
                run.modes[name] = (found, time.perf_counter() - t1)
            if naive is not None:
                embedder.forget_recent()
                t1 = time.perf_counter()
                # The naive pipeline has no follow-up handling: it searches the question as asked.
                found = naive.retrieve(case.question, max(s.k, *MODE_CUTOFFS))
                run.naive = (found, naive.answer(found), time.perf_counter() - t1)
            runs.append(run)
            tick()
    return runs


def score_runs(plan: Plan, runs: Sequence[Run]) -> list[CaseResult]:
    """Score every run: our answer, each retrieval mode, the naive pipeline. The answerer's
    own decision (probability, signals, parts) is read from ``Answer.trace``."""
    from ..pipeline import get_pipeline
    from ..text import strip_markers

    s = plan.settings
    pipeline = get_pipeline(s)
    embedder, reranker = pipeline.embedder, pipeline.reranker

    def similarity(a: str, b: str) -> float:
        vecs = embedder.encode([strip_markers(a), b])
        return float(vecs[0] @ vecs[1])

    def judge(sentence: str, quotes: list[str]) -> bool:
        # ms-marco logits above 0 mean "relevant"; the quote is the passage, the claim the query.
        return bool(max(float(x) for x in reranker.score(sentence, quotes)) > 0.0)

    results: list[CaseResult] = []
    for run in runs:
        case, answer = run.case, run.answer
        scores = score_answer(case, answer, similarity, judge)
        scores["passed"] = float(passed(case, scores, answer.refused))
        trace = answer.trace
        result = CaseResult(
            id=case.id,
            question=case.question,
            tags=list(case.tags),
            answerable=case.answerable,
            answer=answer.text,
            refused=answer.refused,
            query=answer.query,
            latency=run.latency,
            citations=[
                {"n": c.n, "quote": c.quote, "title": c.title, "url": c.url, "score": c.score}
                for c in answer.citations
            ],
            passages=[_passage_view(p) for p in answer.passages],
            metrics=scores,
            passed=bool(scores["passed"]),
            reference=case.reference,
            history=[list(t) for t in case.history],
            probability=trace.probability,
            signals=dict(trace.signals),
            parts_supported=len(trace.parts) >= 2 and any(p.supported for p in trace.parts),
            decision=trace.decision,
        )
        for name, (found, _) in run.modes.items():
            result.modes[name] = mode_scores(case, found)
        if run.naive is not None:
            found, text, _ = run.naive
            if plan.modes:
                result.modes["naive"] = mode_scores(case, found)
            result.naive = {
                "answer": text,
                "passages": [_passage_view(p) for p in found[: s.k]],
                "metrics": _score_naive(case, found[: s.k], text, similarity),
            }
        results.append(result)
    return results


def compare_results(
    plan: Plan, runs: Sequence[Run], results: Sequence[CaseResult], seconds: float
) -> Report:
    """Aggregate the scores per system and tag, the retrieval modes side by side, and the
    refusal calibration, into a :class:`Report`."""
    s, cases = plan.settings, list(plan.cases)
    ours = [r.metrics for r in results]
    refused = [r.refused for r in results]
    latencies = [r.latency for r in results]
    aggregates = {"ours": aggregate(cases, ours, refused, latencies)}
    by_tag = {"ours": _by_tag(cases, ours, refused, latencies)}
    if "naive" in plan.compare:
        theirs = [r.naive["metrics"] for r in results]
        naive_latency = [run.naive[2] for run in runs if run.naive is not None]
        never = [False] * len(cases)
        aggregates["naive"] = aggregate(cases, theirs, never, naive_latency)
        by_tag["naive"] = _by_tag(cases, theirs, never, naive_latency)
    mode_names = [*plan.modes, *(["naive"] if "naive" in plan.compare and plan.modes else [])]
    mode_table: dict[str, Metrics] = {}
    for name in mode_names:
        rows = [r.modes[name] for r in results]
        if name == "naive":
            took = [run.naive[2] for run in runs if run.naive is not None]
        else:
            took = [run.modes[name][1] for run in runs]
        agg: Metrics = {key: m.mean(r.get(key) for r in rows) for key in (rows[0] if rows else {})}
        agg["latency_p50"] = m.percentile(took, 50)
        agg["latency_p95"] = m.percentile(took, 95)
        mode_table[name] = agg
    return Report(
        suite=plan.suite.name,
        path=str(plan.suite.path),
        settings={
            "k": s.k,
            "answerer": s.answerer,
            "embed_model": s.embed_model,
            "rerank": s.rerank,
            "answer_threshold": s.answer_threshold,
            "split": plan.split or "all",
            "as_of": plan.as_of,
            "recency": s.recency,
            "index_dir": str(s.index_dir),
            "limit": plan.limit,
            "compare": list(plan.compare),
            "modes": list(plan.modes),
        },
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        seconds=seconds,
        cases=list(results),
        aggregates=aggregates,
        by_tag=by_tag,
        modes=mode_table,
        calibration=calibration(results) if s.answerer == "extractive" else {},
    )


def run_suite(
    path: str | Path,
    *,
    settings: Settings | None = None,
    k: int | None = None,
    limit: int | None = None,
    compare: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    index_dir: Path | None = None,
    progress: bool = False,
    split: str | None = None,
    as_of: bool = True,
) -> Report:
    """Run the suite at ``path`` and score every case: :func:`plan_suite`, :func:`run_cases`,
    :func:`score_runs`, :func:`compare_results` in turn.

    A case with an ``as_of`` date is answered (and its retrieval modes searched) as of that
    day, unless ``as_of`` is False.

    ``compare`` and ``modes`` default to the suite file's own; ``index_dir`` defaults to
    ``<RAG_INDEX_DIR>/evals/<suite name>``, synced (cheaply, when unchanged) on every run.
    ``split`` picks the ``tune`` or ``test`` part of the suite's recorded split.

    >>> report = run_suite("evals/seed.yaml", limit=5); report.aggregates["ours"]["recall"]
    """
    started = time.perf_counter()
    plan = plan_suite(
        path,
        settings=settings,
        k=k,
        limit=limit,
        compare=compare,
        modes=modes,
        index_dir=index_dir,
        split=split,
        as_of=as_of,
    )
    runs = run_cases(plan, progress=progress)
    results = score_runs(plan, runs)
    return compare_results(plan, runs, results, time.perf_counter() - started)


def _score_naive(
    case: Case, passages: Sequence[Passage], answer: str, similarity: Callable[[str, str], float]
) -> Metrics:
    """The naive pipeline's scores: retrieval, and key phrases in its top chunk's sentences."""
    recall, mrr = m.retrieval(case.sources, _located(passages), len(passages))
    phrases = m.key_phrases(case.must_contain, answer)
    scores: Metrics = {
        "recall": recall,
        "mrr": mrr,
        "fact_recall": m.fact_recall(case.facts, [p.text for p in passages]),
        "citation_precision": None,
        "citation_recall": None,
        "key_phrases": phrases,
        "context_key_phrases": m.key_phrases(case.must_contain, " ".join(p.text for p in passages)),
        "answer_correct": _correct(case, phrases, False),
        "evidence_cited": None,
        "yes_no_correct": None,
        "entity_answered": phrases if case.must_contain else None,
        "strict_correct": None,
        "partial_flagged": None,
        "similarity": similarity(answer, case.reference)
        if case.answerable and case.reference and answer
        else None,
        "faithfulness": None,
    }
    scores["passed"] = float(passed(case, scores))
    return scores
