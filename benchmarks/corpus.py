"""Synthetic news corpora of a given number of passages, built from real article sentences.

Articles are assembled from the sentences of the MultiHop-RAG articles
(``../shared/benchmarks/multihop-rag/articles.jsonl``) with varied outlets, dates and
lengths, and written one Markdown file (with front matter) per article, the way a
corpus folder looks. Passages are counted with the project's own chunker, so a
corpus of "10k" holds 10,000 passages (give or take one article).

A finished corpus is cached under ``benchmarks/.cache/<size>/corpus`` and reused.

    python benchmarks/corpus.py --size 10k
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache"
SOURCE = REPO.parent / "shared" / "benchmarks" / "multihop-rag" / "articles.jsonl"
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000}

OUTLETS = [
    "Reuters",
    "Associated Press",
    "BBC News",
    "The Guardian",
    "The Verge",
    "TechCrunch",
    "Bloomberg",
    "Financial Times",
    "The Age",
    "Al Jazeera",
    "Deutsche Welle",
    "Le Monde",
    "NPR",
    "CNBC",
    "Wired",
    "The Hindu",
    "Kyodo News",
    "Yonhap",
    "ABC News",
    "Politico",
]


def size_of(name: str) -> int:
    """Passages in a named size: ``1k``, ``10k``, ``100k`` or a plain number."""
    return SIZES[name] if name in SIZES else int(name)


def corpus_dir(name: str) -> Path:
    return CACHE / name / "corpus"


def _sentences() -> tuple[list[str], list[str]]:
    """Sentences (one per paragraph in the source) and titles of the source articles."""
    sentences: list[str] = []
    titles: list[str] = []
    with SOURCE.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            titles.append(str(record["title"]))
            sentences.extend(p.strip() for p in str(record["body"]).split("\n\n") if p.strip())
    return sentences, titles


def _article(rng: random.Random, i: int, sentences: list[str], titles: list[str]) -> dict[str, Any]:
    outlet = rng.choice(OUTLETS)
    published = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(730))
    # Mostly short wire stories, some long features: 2 to 24 sentences.
    n = min(24, max(2, int(rng.lognormvariate(1.9, 0.55))))
    body = "\n\n".join(rng.sample(sentences, n))
    title = f"{rng.choice(titles)} ({outlet}, update {i})"
    slug = f"{published:%Y/%m/%d}/story-{i}"
    return {
        "title": title,
        "source": outlet,
        "published": published.isoformat(),
        "url": f"https://news.example/{slug}",
        "author": f"Staff writer {i % 97}",
        "body": body,
    }


def _markdown(article: dict[str, Any]) -> str:
    front = "\n".join(
        f"{key}: {json.dumps(article[key], ensure_ascii=False)}"
        for key in ("title", "source", "published", "url", "author")
    )
    return f"---\n{front}\n---\n\n{article['body']}\n"


def build(name: str) -> dict[str, Any]:
    """Write (or reuse) the corpus for ``name``; return its summary."""
    from rag.chunking import chunk_article
    from rag.config import Settings
    from rag.types import Article

    folder = corpus_dir(name)
    summary_path = folder.parent / "corpus.json"
    if summary_path.exists() and folder.is_dir():
        return dict(json.loads(summary_path.read_text()))
    target = size_of(name)
    settings = Settings.from_env()
    sentences, titles = _sentences()
    rng = random.Random(target)
    shutil.rmtree(folder, ignore_errors=True)
    passages = articles = chars = 0
    while passages < target:
        record = _article(rng, articles, sentences, titles)
        article = Article.create(record["body"], title=record["title"], source=record["source"])
        n = len(chunk_article(article, settings.chunk_size, settings.chunk_overlap))
        # A folder per thousand files keeps directory listings small.
        path = folder / f"{articles // 1000:03d}" / f"story-{articles:06d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_markdown(record), encoding="utf-8")
        passages += n
        articles += 1
        chars += len(record["body"])
    summary = {"size": name, "passages": passages, "articles": articles, "chars": chars}
    summary_path.write_text(json.dumps(summary, indent=2))  # last: marks the corpus complete
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1k", help="1k, 10k, 100k or a number of passages")
    print(json.dumps(build(parser.parse_args().size)))


if __name__ == "__main__":
    main()
