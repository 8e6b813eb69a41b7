"""``rag feeds add|list|remove`` and ``rag watch``: subscriptions and their schedule."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(**({"index_dir": args.index} if getattr(args, "index", None) else {}))


def _print_report(report: Any) -> None:
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for path, note in report.notes:
        print(f"note {path}: {note}", file=sys.stderr)
    print(report.summary() + f" -> {report.index_dir}")


def cmd_feeds(args: argparse.Namespace) -> int:
    from .feeds import add_feed, list_feeds, remove_feed
    from .fetching import FetchError
    from .index import Index

    index = Index(_settings(args))
    if args.action == "add":
        try:
            sub = add_feed(index, args.url, args.name or "")
        except FetchError as exc:
            print(f"error: {exc}; not subscribed", file=sys.stderr)
            return 1
        print(f"subscribed to {sub['url']} as {sub['name']!r}; `rag ingest --feeds` fetches it")
        return 0
    if args.action == "remove":
        sub = remove_feed(index, args.url)
        print(f"unsubscribed from {sub['url']} ({sub['name']}); its articles stay in the index")
        return 0
    feeds = list_feeds(index)
    if args.json:
        print(json.dumps(feeds, indent=2))
    elif not feeds:
        print("no subscriptions: add one with `rag feeds add URL`")
    for sub in [] if args.json else feeds:
        error = f"  error: {sub['last_error']}" if sub.get("last_error") else ""
        print(f"{sub['name']}\t{sub['url']}\tlast fetch: {sub.get('last_fetch') or 'never'}{error}")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    import datetime as dt

    from .feeds import FeedReader, list_feeds, parse_every, watch
    from .index import Index

    every = parse_every(args.every)
    index = Index(_settings(args))
    if not list_feeds(index):
        print("no subscriptions to watch: add one with `rag feeds add URL`", file=sys.stderr)
        return 1

    def said(report: Any) -> None:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        print(f"[{stamp}] ", end="")
        _print_report(report)
        sys.stdout.flush()

    print(f"syncing {len(list_feeds(index))} feeds every {args.every}; Ctrl-C stops")
    watch(FeedReader(index), every, passes=args.passes, on_pass=said)
    return 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("feeds", help="subscriptions to RSS/Atom feeds: add, list, remove")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("add", help="subscribe to a feed URL (checked, nothing stored yet)")
    a.add_argument("url")
    a.add_argument("--name", help="a short name (default: the feed's title)")
    r = actions.add_parser("remove", help="unsubscribe (by URL or name)")
    r.add_argument("url", help="the feed's URL or name")
    ls = actions.add_parser("list", help="subscriptions with their last fetch and error")
    ls.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feeds)

    p = sub.add_parser("watch", help="sync every subscription on a schedule until stopped")
    p.add_argument("--every", default="15m", help="time between passes: 15m, 1h, 90s")
    p.add_argument("--passes", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_watch)
