"""The ``rag`` command: ingest, check, stats, ask, eval, serve.

Imports only what each command needs, so ``rag ask`` starts fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any

from .config import ENV, Settings
from .errors import RagError
from .protocols import answerers


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = args.index
    return Settings.from_env(**overrides)


def cmd_ingest(args: argparse.Namespace) -> int:
    from .index import Index

    shard = None
    if args.shard is not None:
        from .errors import ConfigError
        from .shards import Shard

        shard = Shard.parse(args.shard)
        if args.feeds or args.repair:
            flag = "--feeds" if args.feeds else "--repair"
            fix = (
                "fetch feeds with one unsharded `rag ingest --feeds`"
                if args.feeds
                else "run `rag check` once before starting the shards"
            )
            raise ConfigError(f"--shard {shard} cannot be combined with {flag}: {fix}")
    settings = _settings(args)
    index = Index(settings)
    if args.repair and index.store.state().get("active"):
        check = index.check()
        print(f"check: {check.summary()}", file=sys.stderr)
        if not check.ok:
            return 1
    if args.feeds:
        from .feeds import FeedReader

        report = FeedReader(index).sync_feeds()
        if args.paths:
            from .feeds import merge_reports

            more = index.ingest(args.paths, quiet=args.quiet)
            report = merge_reports([report, more], [], [], report.index_dir)
    else:
        report = index.ingest(args.paths or None, quiet=args.quiet, shard=shard)
    if not args.quiet:
        for path, reason in report.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        for path, note in report.notes:
            print(f"note {path}: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary() + f" -> {report.index_dir}")
    if report.missing:
        print(
            f"error: {', '.join(report.missing)}: no such file or directory; nothing that came "
            f"from there was removed (check the path, or mount the drive, and sync again)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .index import Index

    report = Index(_settings(args)).check(repair=not args.no_repair)
    if args.json:
        print(json.dumps({**dataclasses.asdict(report), "ok": report.ok}, indent=2))
    else:
        print(f"check: {report.summary()}")
    return 0 if report.ok else 1


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
    shards = stats.get("shards") or {}
    if shards:
        n = shards["count"]
        line = f"{len(shards['done'])} of {n} finished"
        if shards["running"]:
            line += f"; running: {', '.join(shards['running'])}"
        if shards["gone"]:
            line += f"; stopped before finishing: {', '.join(shards['gone'])} (run them again)"
        print(f"{'shards:':<17}{line}")
    if stats.get("first_published"):
        span = f"{stats['first_published']} to {stats['last_published']}"
        print(f"{'published:':<17}{span}")
        months = list(stats["per_month"].items())
        # A long span reads better by year, with the last twelve months in full.
        early: dict[str, int] = {}
        for month, count in months[:-12] if len(months) > 24 else []:
            early[month[:4]] = early.get(month[:4], 0) + count
        rows = [*early.items(), *(months[-12:] if early else months)]
        top = max(count for _, count in rows)
        for label, count in rows:
            print(f"  {label:<7}  {count:>6}  {'#' * max(1, round(30 * count / top))}")
    return 0


def printable(text: str) -> str:
    """Text from articles made safe for a terminal: control characters (escape sequences
    that could recolour, retitle or clear the terminal) are shown as ``\x1b`` and the like."""
    return "".join(
        ch if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf") else repr(ch)[1:-1]
        for ch in str(text)
    )


def _outlet_day(source: str, published: Any) -> str:
    """The outlet and the day ("Reuters, 2024-05-02"), or whichever of the two is known."""
    return ", ".join(x for x in (source, published.isoformat() if published else "") if x)


def _print_answer(answer: Any) -> None:
    print(printable(answer.text))
    if answer.trace.dates:
        print(f"\n(dates: {answer.trace.dates})")
    if answer.citations:
        print()
        print("Sources:")
    for c in answer.citations:
        meta = _outlet_day(c.source, c.published)
        print(printable(f"  [{c.n}] {c.title}" + (f" ({meta})" if meta else "")))
        if c.url:
            print(printable(f"      {c.url}"))
        quote = printable(c.quote.replace("\n", " "))
        print(f"      “{quote}”  [chars {c.start}-{c.end} of article {printable(c.doc_id)}]")
        if c.also_in:  # other outlets' copies of the same wire story
            others = "; ".join(_outlet_day(r.source, r.published) for r in c.also_in)
            print(printable(f"      also carried by: {others}"))


def cmd_ask(args: argparse.Namespace) -> int:
    from .pipeline import get_pipeline

    filters = {
        key: value
        for key, value in (("source", args.source), ("since", args.since), ("until", args.until))
        if value
    }
    pipeline = get_pipeline(_settings(args))
    pipeline.preload()  # the models load while Chroma opens
    answer = pipeline.answer(
        args.question, k=args.k, filters=filters or None, answerer=args.answerer, as_of=args.as_of
    )
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .ui import main as serve

    return int(serve(_settings(args)))


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
    p.add_argument(
        "paths",
        nargs="*",
        help="files or folders (.txt .md .html .json .jsonl .pdf), http(s) URLs of feeds or "
        "articles, or a .txt file listing URLs",
    )
    p.add_argument("--feeds", action="store_true", help="one pass over every subscription")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or skip list")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--repair", action="store_true", help="run `rag check` (verify and repair) first"
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="sync only shard I of N (by article id) into the RAG_CHROMA_URL server, while "
        "the other N-1 shards run elsewhere (README: Scale)",
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "check",
        help="verify that every stored chunk is found by its own vector, and repair the index",
    )
    p.add_argument("--no-repair", action="store_true", help="only report what is wrong")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("ask", help="answer a question from the articles, with sources")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument("--k", type=int, default=None, help="passages to retrieve (RAG_TOP_K)")
    p.add_argument("--source", action="append", help="only this outlet (repeatable)")
    p.add_argument("--since", help="only articles published on or after YYYY-MM-DD")
    p.add_argument("--until", help="only articles published on or before YYYY-MM-DD")
    p.add_argument("--answerer", choices=answerers.names(), help="overrides RAG_ANSWERER")
    p.add_argument(
        "--as-of",
        help="answer as on YYYY-MM-DD: only articles up to then; 'this week' resolved against it",
    )
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("stats", help="articles, chunks, index path, model, last sync")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("serve", help="the web UI (same as python ui.py; RAG_HOST, RAG_PORT)")
    p.set_defaults(func=cmd_serve)

    from .cli_feeds import add_parsers as add_feed_parsers
    from .evaluate.cli import add_parser as add_eval_parser

    add_feed_parsers(sub)

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
