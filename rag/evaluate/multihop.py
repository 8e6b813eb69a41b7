"""The MultiHop-RAG benchmark as suite cases (see evals/README.md for how each type is scored)."""

from __future__ import annotations

import json
from pathlib import Path

from .suite import YES_NO, Case, SuiteError


def multihop_cases(data_dir: Path, articles: str, queries: str) -> tuple[Path, tuple[Case, ...]]:
    """The articles file to ingest and one case per query.

    Evidence urls become ``sources`` (article-level retrieval and citations), evidence
    sentences become ``facts``; entity answers become ``must_contain``. Yes/no answers
    are left unscored, because an extractive answerer quotes and never says "yes".
    """
    articles_path, queries_path = data_dir / articles, data_dir / queries
    for p in (articles_path, queries_path):
        if not p.is_file():
            raise SuiteError(
                f"MultiHop-RAG file {p} is missing: the benchmark lives in "
                f"shared/benchmarks/multihop-rag beside the repository"
            )
    cases: list[Case] = []
    for n, line in enumerate(queries_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            qtype = str(q["question_type"])
            answer = str(q.get("answer", "")).strip()
            evidence = list(q.get("evidence") or [])
            question = str(q["question"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SuiteError(
                f"{queries_path}: line {n} is not a MultiHop-RAG query ({exc})"
            ) from None
        answerable = qtype != "null_query"
        scored_answer = answerable and answer.lower() not in YES_NO and bool(answer)
        urls = list(dict.fromkeys(str(e["url"]) for e in evidence if e.get("url")))
        cases.append(
            Case(
                id=str(q.get("id", n)),
                question=question,
                reference=answer if scored_answer else "",
                must_contain=((answer,),) if scored_answer else (),
                sources=tuple((u,) for u in urls) if answerable else (),
                facts=tuple(str(e["fact"]) for e in evidence if e.get("fact"))
                if answerable
                else (),
                answerable=answerable,
                tags=(qtype,),
            )
        )
    return articles_path, tuple(cases)
