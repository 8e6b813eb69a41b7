"""When are two passages copies of one wire story? The measurement behind COPY_SHARED.

For every pair of passages from different outlets in the MultiHop-RAG and RealTimeQA articles
(independent reporting, often of the same events), the share of the shorter passage's word
trigrams found in the other; and the same share for passages of edited copies of 200 of those
articles, made the way outlets run a wire story: their own headline, a dateline, a credit
line, a few house-style words, sometimes without the last paragraph. Each copy passage is
compared with the original's best-matching passage.

    .venv/bin/python evals/wire_copies.py      # about 20 s
"""

from __future__ import annotations

import collections
import itertools
import json
import random
from pathlib import Path

from rag.chunking import chunk_article
from rag.retrieval import COPY_MIN_TRIGRAMS, _trigrams
from rag.types import Article

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
FILES = [SHARED / "multihop-rag" / "articles.jsonl", SHARED / "realtimeqa" / "articles.jsonl"]
SWAPS = [
    ("said", "told reporters"),
    (" percent", "%"),
    ("organization", "organisation"),
    ("U.S.", "US"),
    ("Mr. ", ""),
    ("on Monday", "Monday"),
    ("However, ", "But "),
]
DATELINES = ["WASHINGTON (AP) — ", "LONDON, Reuters - ", "By Staff Writer\n", ""]
CREDITS = [
    "\nReporting by Jane Doe; Editing by John Roe",
    "\nThe Associated Press contributed to this report.",
    "",
]
Shingles = frozenset[tuple[str, ...]]


def shared(a: Shingles, b: Shingles) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def copy_of(article: Article, n: int, rng: random.Random) -> Article:
    paragraphs = [p for p in article.text.split("\n") if p.strip()]
    if n % 2 and len(paragraphs) > 3:
        paragraphs = paragraphs[:-1]
    text = "\n".join(paragraphs)
    for old, new in rng.sample(SWAPS, 3):
        text = text.replace(old, new, 2)
    body = rng.choice(DATELINES) + text + rng.choice(CREDITS)
    return Article.create(body, title="Copy: " + article.title, source="Other Outlet")


def main() -> None:
    articles = []
    for path in FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if len(r.get("body") or "") > 800:
                articles.append(Article.create(r["body"], title=r["title"], source=r["source"]))
    chunks = [(a.source, c.text) for a in articles for c in chunk_article(a)]
    shingles = [_trigrams(text) for _, text in chunks]
    by_trigram: dict[tuple[str, ...], list[int]] = collections.defaultdict(list)
    for i, s in enumerate(shingles):
        if len(s) >= COPY_MIN_TRIGRAMS:
            for t in s:
                by_trigram[t].append(i)
    common: collections.Counter[tuple[int, int]] = collections.Counter()
    for ids in by_trigram.values():
        if len(ids) <= 200:  # a phrase in hundreds of passages says nothing about copying
            for a, b in itertools.combinations(ids, 2):
                if chunks[a][0] != chunks[b][0]:
                    common[(a, b)] += 1
    independent = sorted(
        (n / min(len(shingles[a]), len(shingles[b])) for (a, b), n in common.items()),
        reverse=True,
    )
    print(
        f"{len(chunks):,} passages of {len(articles):,} articles; "
        f"{len(common):,} pairs from different outlets share a trigram "
        f"(passages of {COPY_MIN_TRIGRAMS}+ trigrams)"
    )
    print("  highest shares:", ", ".join(f"{x:.3f}" for x in independent[:5]))

    rng = random.Random(7)
    best: list[float] = []
    for n, article in enumerate(rng.sample(articles, 200)):
        original = [_trigrams(c.text) for c in chunk_article(article)]
        for c in chunk_article(copy_of(article, n, rng)):
            mine = _trigrams(c.text)
            if len(mine) >= COPY_MIN_TRIGRAMS:
                best.append(max(shared(mine, o) for o in original))
    print(f"{len(best):,} passages of edited copies of 200 articles")
    for threshold in (0.4, 0.5, 0.6, 0.7, 0.8):
        copies = sum(x >= threshold for x in best) / len(best)
        false = sum(x >= threshold for x in independent)
        print(f"  at {threshold}: copies found {copies:.3f}, independent pairs collapsed {false}")


if __name__ == "__main__":
    main()
