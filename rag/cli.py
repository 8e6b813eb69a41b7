"""The ``rag`` command: ingest, stats, ask, eval, serve.

Imports only what each command needs, so ``rag ask`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .config import ENV, Settings
from .errors import RagError


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = args.index
    return Settings.from_env(**overrides)


def cmd_ingest(args: argparse.Namespace) -> int:
    from .index import Index

    settings = _settings(args)
    index = Index(settings)
    report = index.ingest(args.paths or None, quiet=args.quiet)
    if not args.quiet:
        for path, reason in report.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary() + f" -> {report.index_dir}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .index import Index

    stats = Index(_settings(args)).stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    labels = {
        "articles": "articles",
        "chunks": "chunks",
        "index": "index",
        "embedding_model": "embedding model",
        "last_sync": "last sync",
    }
    for key, label in labels.items():
        print(f"{label + ':':<17}{stats[key] if stats[key] != '' else 'never'}")
    return 0


def _print_answer(answer: Any) -> None:
    print(answer.text)
    if answer.citations:
        print()
        print("Sources:")
    for c in answer.citations:
        meta = ", ".join(x for x in (c.source, c.published.isoformat() if c.published else "") if x)
        print(f"  [{c.n}] {c.title}" + (f" ({meta})" if meta else ""))
        if c.url:
            print(f"      {c.url}")
        print(f"      “{c.quote}”  [chars {c.start}-{c.end} of article {c.doc_id}]")


def cmd_ask(args: argparse.Namespace) -> int:
    from .pipeline import get_pipeline

    filters = {
        key: value
        for key, value in (("source", args.source), ("since", args.since), ("until", args.until))
        if value
    }
    pipeline = get_pipeline(_settings(args))
    answer = pipeline.answer(
        args.question, k=args.k, filters=filters or None, answerer=args.answerer
    )
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import importlib.util

    from .config import project_root

    # ui.py lives at the repository root, next to the package, not inside it.
    path = project_root() / "ui.py"
    spec = importlib.util.spec_from_file_location("ui", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise RagError(f"no web UI at {path}: run `rag serve` from the source checkout")
    ui = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ui)
    return int(ui.main(_settings(args)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Question answering over news articles, with cited passages.",
        epilog="Settings come from RAG_* environment variables: "
        + ", ".join(var for var, _, _ in ENV.values()),
    )
    parser.add_argument("--index", help="index folder (overrides RAG_INDEX_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "ingest", help="sync files or folders (default: the corpus folder) into the index"
    )
    p.add_argument("paths", nargs="*", help="files or folders (.txt .md .html .json .jsonl .pdf)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or skip list")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("ask", help="answer a question from the articles, with sources")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument("--k", type=int, default=None, help="passages to retrieve (RAG_TOP_K)")
    p.add_argument("--source", action="append", help="only this outlet (repeatable)")
    p.add_argument("--since", help="only articles published on or after YYYY-MM-DD")
    p.add_argument("--until", help="only articles published on or before YYYY-MM-DD")
    p.add_argument("--answerer", choices=["extractive", "llm"], help="overrides RAG_ANSWERER")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("stats", help="articles, chunks, index path, model, last sync")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("serve", help="the web UI (same as python ui.py; RAG_HOST, RAG_PORT)")
    p.set_defaults(func=cmd_serve)

    from .evaluate.cli import add_parser as add_eval_parser

    add_eval_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; run the same command again to finish (the index stays consistent)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
