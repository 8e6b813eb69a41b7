"""Public benchmarks as suite cases: MultiHop-RAG and RealTimeQA (see evals/README.md).

Both live in ``shared/benchmarks/`` beside the repository, as an articles file to ingest and
a queries file whose lines become :class:`Case` values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .suite import YES_NO, Case, SuiteError


def _lines(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}: line {n} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise SuiteError(f"{path}: line {n} is not a {kind} query object")
        yield n, record


def _files(data_dir: Path, articles: str, queries: str, kind: str) -> tuple[Path, Path]:
    articles_path, queries_path = data_dir / articles, data_dir / queries
    for p in (articles_path, queries_path):
        if not p.is_file():
            raise SuiteError(
                f"{kind} file {p} is missing: the benchmark lives in "
                f"shared/benchmarks/ beside the repository"
            )
    return articles_path, queries_path


def multihop_cases(data_dir: Path, articles: str, queries: str) -> tuple[Path, tuple[Case, ...]]:
    """The articles file to ingest and one case per MultiHop-RAG query.

    Evidence urls become ``sources`` (article-level retrieval and citations: a comparison
    or temporal answer must cite every evidence article), evidence sentences ``facts``;
    entity answers become ``must_contain`` and yes/no answers ``yes_no``.
    """
    articles_path, queries_path = _files(data_dir, articles, queries, "MultiHop-RAG")
    cases: list[Case] = []
    for n, q in _lines(queries_path, "MultiHop-RAG"):
        try:
            qtype = str(q["question_type"])
            answer = str(q.get("answer", "")).strip()
            evidence = list(q.get("evidence") or [])
            question = str(q["question"])
        except (KeyError, TypeError) as exc:
            raise SuiteError(
                f"{queries_path}: line {n} is not a MultiHop-RAG query ({exc})"
            ) from None
        answerable = qtype != "null_query"
        yes_no = answer.lower() if answerable and answer.lower() in YES_NO else ""
        entity = answerable and not yes_no and bool(answer)
        urls = list(dict.fromkeys(str(e["url"]) for e in evidence if e.get("url")))
        cases.append(
            Case(
                id=str(q.get("id", n)),
                question=question,
                reference=answer if entity else "",
                must_contain=((answer,),) if entity else (),
                sources=tuple((u,) for u in urls) if answerable else (),
                facts=tuple(str(e["fact"]) for e in evidence if e.get("fact"))
                if answerable
                else (),
                answerable=answerable,
                yes_no=yes_no,
                tags=(qtype,),
            )
        )
    return articles_path, tuple(cases)


def realtimeqa_cases(data_dir: Path, articles: str, queries: str) -> tuple[Path, tuple[Case, ...]]:
    """The articles file to ingest and one case per RealTimeQA question whose answer is in it.

    Questions whose answer the articles do not hold in those words are left out: they are
    neither answerable nor unanswerable for certain. The gold choice must be in the answer;
    the other choices are ``wrong`` (for the strict score). ``as_of`` is the quiz's date.
    """
    articles_path, queries_path = _files(data_dir, articles, queries, "RealTimeQA")
    cases: list[Case] = []
    for n, q in _lines(queries_path, "RealTimeQA"):
        if not q.get("answer_in_corpus"):
            continue
        try:
            answer = str(q["answer"]).strip()
            choices = [str(c).strip() for c in q.get("choices") or []]
            question = str(q["question"])
        except (KeyError, TypeError) as exc:
            raise SuiteError(
                f"{queries_path}: line {n} is not a RealTimeQA query ({exc})"
            ) from None
        urls = [str(u) for u in q.get("answer_bearing_urls") or []]
        cases.append(
            Case(
                id=str(q.get("id", n)),
                question=question,
                reference=answer,
                must_contain=((answer,),),
                sources=(tuple(urls),) if urls else (),
                wrong=tuple(c for c in choices if c and c.lower() != answer.lower()),
                as_of=str(q.get("question_date", "")),
                tags=(str(q.get("question_source", "quiz")).lower(),),
            )
        )
    return articles_path, tuple(cases)


BENCHMARKS: dict[str, Callable[[Path, str, str], tuple[Path, tuple[Case, ...]]]] = {
    "multihop-rag": multihop_cases,
    "realtimeqa": realtimeqa_cases,
}
