"""Odd paths and odd files: strings and Paths, links that loop, pipes, devices, missing
folders, huge or half-binary files, clashing upload names. Real files, real Chroma."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_index import consistency, populate, write_article

import rag
import rag.index
from rag.config import Settings
from rag.errors import ConfigError, LoadError
from rag.index import Index, expand_paths
from rag.loaders import load_file
from rag.ui.library import Library
from rag.uploads import save_upload

# -- item 3: one path or a list, as a string or a Path -------------------------------------------


def test_as_paths_takes_a_string_a_path_or_a_list(tmp_path: Path) -> None:
    default = tmp_path / "default"
    assert rag.index.as_paths("corpus/", default) == [Path("corpus").resolve()]
    assert rag.index.as_paths(Path("corpus"), default) == [Path("corpus").resolve()]
    assert rag.index.as_paths(["a", Path("b")], default) == [
        Path("a").resolve(),
        Path("b").resolve(),
    ]
    assert (
        rag.index.as_paths(None, default) == rag.index.as_paths([], default) == [default.resolve()]
    )
    with pytest.raises(ConfigError, match="file or folder name"):
        rag.index.as_paths(5, default)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="file or folder name"):
        rag.index.as_paths([b"x"], default)  # type: ignore[list-item]


def test_ingest_a_string_or_a_path_syncs_that_folder_only(settings: Settings) -> None:
    """``rag.ingest("folder/")`` used to iterate the string: "/" became the root folder."""
    populate(settings.corpus_dir)
    report = rag.ingest(str(settings.corpus_dir) + "/", settings=settings)
    assert len(report.added) == 3 and not report.skipped and not report.missing
    again = rag.ingest([settings.corpus_dir], settings=settings)
    assert len(again.unchanged) == 3
    assert consistency(Index(settings))[0] == 3


# -- item 5: links that loop, pipes, devices -----------------------------------------------------


def test_a_link_loop_is_walked_once(settings: Settings) -> None:
    corpus = settings.corpus_dir
    populate(corpus)
    (corpus / "self").symlink_to(".")
    (corpus / "deeper").mkdir()
    (corpus / "deeper" / "up").symlink_to("..")
    (corpus / "a").mkdir()
    (corpus / "b").mkdir()
    (corpus / "a" / "to-b").symlink_to("../b")
    (corpus / "b" / "to-a").symlink_to("../a")
    files, skipped = expand_paths([corpus])
    assert sorted(p.name for p in files) == sorted(["chess.txt", "harbour.txt", "orchard.txt"])
    assert not skipped
    report = Index(settings).ingest([corpus])
    assert len(report.added) == 3
    manifest = Index(settings).store.manifest(Index(settings).active_generation())
    origins = [json.loads(m["origins"]) for m in manifest.values()]
    assert all(len(o) == 1 for o in origins), origins  # each file stored once, by one path


def test_a_fifo_and_a_device_are_skipped_not_read(settings: Settings) -> None:
    """A FIFO blocked ingest for ever; a link to /dev/zero read until MemoryError."""
    corpus = settings.corpus_dir
    populate(corpus)
    os.mkfifo(corpus / "pipe.txt")
    (corpus / "zero.txt").symlink_to("/dev/zero")
    (corpus / "gone.txt").symlink_to(corpus / "nowhere.txt")
    result: list[rag.IngestReport] = []
    worker = threading.Thread(target=lambda: result.append(Index(settings).ingest([corpus])))
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(corpus / "pipe.txt", "w"):
            pass
        worker.join(timeout=30)
        pytest.fail("ingest blocked on a FIFO")
    (report,) = result
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert "FIFO" in reasons["pipe.txt"]
    assert "device" in reasons["zero.txt"]
    assert "broken link" in reasons["gone.txt"]
    assert len(report.added) == 3


def test_files_over_the_size_limit_are_skipped_and_keep_their_articles(
    settings: Settings,
) -> None:
    corpus = settings.corpus_dir
    populate(corpus)
    index = Index(settings)
    index.ingest([corpus])
    small = index.settings.replace(max_file_mb=0.0001)  # about 100 bytes
    report = Index(small).ingest([corpus])
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert "RAG_MAX_FILE_MB" in reasons["chess.txt"], reasons
    assert not report.removed, "a file that is skipped must not lose its stored article"
    assert consistency(Index(settings))[0] == 3


def test_an_article_over_the_length_limit_is_skipped_with_a_reason(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rag.index, "MAX_ARTICLE_CHARS", 400, raising=False)
    corpus = settings.corpus_dir
    populate(corpus)
    write_article(corpus, "long.txt", "A very long story", "Word after word. " * 100)
    report = Index(settings).ingest([corpus])
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert "over the 400 limit" in reasons["long.txt"] and "split" in reasons["long.txt"]
    assert len(report.added) == 3


# -- item 6: a root that is not there ------------------------------------------------------------


def test_a_missing_root_removes_nothing(settings: Settings, tmp_path: Path) -> None:
    corpus = settings.corpus_dir
    populate(corpus)
    index = Index(settings)
    index.ingest([corpus])
    moved = tmp_path / "moved"
    corpus.rename(moved)  # an unmounted drive, a renamed folder, a wrong RAG_CORPUS_DIR
    report = index.ingest([corpus])
    assert report.missing == (str(corpus),)
    assert not report.removed
    assert consistency(index)[0] == 3
    assert "missing (nothing removed)" in report.summary()
    # Back where it was: everything is still there and unchanged.
    moved.rename(corpus)
    back = index.ingest([corpus])
    assert len(back.unchanged) == 3 and not back.missing


def test_cli_ingest_of_a_missing_path_exits_non_zero(settings: Settings) -> None:
    populate(settings.corpus_dir)
    rag.ingest([settings.corpus_dir], settings=settings)
    env = {
        **os.environ,
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_CORPUS_DIR": str(settings.corpus_dir / "not-there"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", "-q"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert "no such file or directory" in done.stderr and "nothing" in done.stderr
    assert consistency(Index(settings))[0] == 3


# -- item 9: files that are partly binary, dates that are not understood ------------------------


def test_a_nul_byte_past_the_first_8_kb_makes_a_file_binary(tmp_path: Path) -> None:
    path = tmp_path / "late.txt"
    path.write_bytes(b"A title\n" + b"plain words " * 1000 + b"\x00\x01\x02 binary tail")
    with pytest.raises(LoadError, match=r"binary file.*NUL"):
        load_file(path)


def test_a_date_that_is_not_understood_is_reported(settings: Settings) -> None:
    corpus = settings.corpus_dir
    corpus.mkdir(exist_ok=True)
    (corpus / "story.md").write_text(
        "---\ntitle: Bridge opens\npublished: the day after tomorrow\n---\nThe bridge opened.\n"
    )
    (corpus / "feed.jsonl").write_text(
        json.dumps({"title": "Rail", "body": "Trains ran.", "published": "someday"})
        + "\n"
        + json.dumps({"title": "Snow", "body": "It snowed.", "published": "2024-02-03"})
        + "\n"
    )
    report = Index(settings).ingest([corpus])
    notes = {(Path(p).name, n.split(":")[0]) for p, n in report.notes}
    story = [n for p, n in report.notes if Path(p).name == "story.md"]
    assert story and "'the day after tomorrow'" in story[0] and "YYYY-MM-DD" in story[0]
    assert ("feed.jsonl", "line 1") in notes
    assert not any(n.startswith("line 2") for _, n in report.notes)
    assert len(report.added) == 3 and not report.skipped


# -- item 7: uploads -----------------------------------------------------------------------------


def test_uploads_with_the_same_name_never_replace_each_other(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    texts = {}
    for n, name in enumerate(["../x.txt", "x.txt", ".../x.txt"]):
        source = tmp_path / f"src{n}.txt"
        source.write_text(f"Story {n}\nBody number {n}.\n", encoding="utf-8")
        texts[save_upload(source, name, folder, max_mb=1).name] = source.read_text()
    assert sorted(texts) == ["x-2.txt", "x-3.txt", "x.txt"]
    for name, text in texts.items():
        assert (folder / name).read_text() == text
    # The same file uploaded again keeps its name: nothing new is stored.
    again = save_upload(tmp_path / "src0.txt", "x.txt", folder, max_mb=1)
    assert again.name == "x.txt" and len(list(folder.iterdir())) == 3


@pytest.mark.parametrize("name", ["新闻.txt", "новости.md", "ニュース.html"])
def test_upload_names_in_any_script_are_kept(tmp_path: Path, name: str) -> None:
    source = tmp_path / "src.txt"
    source.write_text("Title\nBody.\n", encoding="utf-8")
    saved = save_upload(source, name, tmp_path / "uploads", max_mb=1)
    assert saved.name == name


def test_two_uploads_of_one_name_through_the_handler_keep_both_articles(
    settings: Settings, tmp_path: Path
) -> None:
    handlers = Library(settings)
    first, second = tmp_path / "one", tmp_path / "two"
    write_article(first, "x.txt", "Harbour bridge reopens", "The bridge reopened on Monday.")
    write_article(second, "x.txt", "Orchard harvest", "Growers picked a record crop.")
    handlers.upload([str(first / "x.txt")], progress=lambda *a, **k: None)
    _, _, html, _ = handlers.upload([str(second / "x.txt")], progress=lambda *a, **k: None)
    assert "saved as <code>x-2.txt</code>" in html and "1 article added" in html
    assert consistency(Index(settings))[0] == 2
