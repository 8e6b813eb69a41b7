"""The library: listing, searching and deleting articles, "ask only these articles", against
real Chroma in a temporary folder and the real embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_index import BODIES, populate, write_article

import rag
from rag.config import Settings
from rag.index import Index


def test_articles_are_listed_searched_and_paged(settings: Settings) -> None:
    assert rag.articles(settings=settings).total == 0  # nothing indexed yet: an empty page
    populate(settings.corpus_dir)
    rag.ingest(settings=settings)
    page = rag.articles(settings=settings)
    assert page.total == 3 and page.pages == 1
    assert {a.title for a in page.items} == {title for title, _ in BODIES.values()}
    first = page.items[0]
    assert first.source == "The Test Herald" and first.passages >= 1
    assert first.origins[0].endswith(".txt") and not first.uploaded

    found = rag.articles("ORCHARD harvest", settings=settings)
    assert [a.title for a in found.items] == ["Orchard harvest breaks record"]
    assert rag.articles("chess.txt", settings=settings).total == 1  # the file name counts too
    assert rag.articles("nothing like this", settings=settings).total == 0

    pages = [rag.articles(page=n, page_size=2, settings=settings) for n in (1, 2, 3)]
    assert [len(p.items) for p in pages] == [2, 1, 1]  # a page past the end shows the last
    assert pages[0].pages == 2 and pages[2].page == 2
    with pytest.raises(rag.QuestionError, match="numbered from 1"):
        rag.articles(page=0, settings=settings)
    assert rag.outlets(settings=settings) == ["The Test Herald"]


def test_deleting_an_upload_removes_its_file_and_a_corpus_file_says_it_comes_back(
    settings: Settings,
) -> None:
    populate(settings.corpus_dir)
    upload = write_article(
        settings.corpus_dir / "uploads", "kite.txt", "Kite festival", "Kites of every colour."
    )
    rag.ingest(settings=settings)
    by_title = {a.title: a for a in rag.articles(settings=settings).items}
    kite, chess = by_title["Kite festival"], by_title["Teenager wins chess title"]
    assert kite.uploaded and kite.origins == ("upload: kite.txt",)

    gone = rag.delete_article(kite.doc_id, settings=settings)
    assert gone.removed_files == ("upload: kite.txt",) and not gone.returns_on_sync
    assert not upload.exists()
    assert rag.articles("kite", settings=settings).total == 0
    with pytest.raises(rag.RagError, match="no article"):
        rag.get_article(kite.doc_id, settings=settings)

    kept = rag.delete_article(chess.doc_id, settings=settings)
    assert kept.returns_on_sync and kept.kept_files == ("chess.txt",)
    assert (settings.corpus_dir / "chess.txt").exists()
    # Neither the vectors nor BM25 find it now...
    found = rag.retrieve("fifteen-year-old chess championship Oslo", k=3, settings=settings)
    assert chess.doc_id not in {p.doc_id for p in found}
    # ...and the next sync brings back the one whose file is still there, not the upload.
    report = rag.ingest(settings=settings)
    assert report.added == (chess.doc_id,) and not report.removed
    assert rag.articles(settings=settings).total == 3
    with pytest.raises(rag.RagError, match="no article"):
        rag.delete_article(kite.doc_id, settings=settings)


def test_deleting_one_record_of_a_jsonl_file_keeps_the_others_and_the_manifest_right(
    settings: Settings,
) -> None:
    records = [
        {"title": f"Record {n}", "body": f"Story number {n} about the {w} market.", "source": "X"}
        for n, w in ((1, "fish"), (2, "flower"), (3, "book"))
    ]
    feed = settings.corpus_dir / "feed.jsonl"
    feed.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    rag.ingest(settings=settings)
    target = next(a for a in rag.articles(settings=settings).items if a.title == "Record 2")
    result = rag.delete_article(target.doc_id, settings=settings)
    assert result.kept_files == ("feed.jsonl",) and feed.exists()
    assert {a.title for a in rag.articles(settings=settings).items} == {"Record 1", "Record 3"}
    # The file did not change, yet the next sync reads it again and restores the record.
    report = rag.ingest(settings=settings)
    assert report.added == (target.doc_id,) and len(report.unchanged) == 2
    assert Index(settings).stats()["articles"] == 3


def test_ask_only_these_articles(settings: Settings) -> None:
    populate(settings.corpus_dir)
    rag.ingest(settings=settings)
    by_title = {a.title: a.doc_id for a in rag.articles(settings=settings).items}
    orchard = by_title["Orchard harvest breaks record"]
    found = rag.retrieve(
        "harbour bridge cables", k=5, filters={"doc_id": [orchard]}, settings=settings
    )
    assert found and {p.doc_id for p in found} == {orchard}
    both = [orchard, by_title["Harbour bridge reopens"]]
    found = rag.retrieve(
        "harbour bridge cables",
        k=5,
        filters={"doc_id": both, "source": "The Test Herald"},
        settings=settings,
    )
    assert found[0].doc_id == both[1]
    with pytest.raises(rag.QuestionError, match="doc_id"):
        rag.retrieve("x", filters={"doc_id": [3]}, settings=settings)


def test_upload_policy_lives_in_the_package(tmp_path: Path) -> None:
    from rag.uploads import save_upload

    source = tmp_path / "a.txt"
    source.write_text("T\nbody\n", encoding="utf-8")
    other = tmp_path / "b.txt"
    other.write_text("U\nanother body\n", encoding="utf-8")
    folder = tmp_path / "uploads"
    assert save_upload(source, "a.txt", folder, 1).name == "a.txt"
    assert save_upload(source, "a.txt", folder, 1).name == "a.txt"  # the same file again
    assert save_upload(other, "a.txt", folder, 1).name == "a-2.txt"  # never replaced
