"""Local LLM benchmark: time to first token and to the full answer, refusals, flagged
sentences and peak memory, beside the extractive answerer on the same questions.

Questions are the test part of a suite (its recorded split), answered over the suite's
index as ``rag eval`` builds it. Run in its own process, on an idle machine:

    python benchmarks/llm.py evals/multihop.yaml --n 20 --threads 2

Prints one JSON object and writes it to ``benchmarks/results/llm.json``. With
``--no-prefix-cache`` every prompt is read whole (the key/value cache is not reused).

Runtimes are compared by running this in each one's environment, alternating, to files
of their own, then ``--runtimes FILE...`` puts each runtime's medians over its runs into
the ``runtimes`` section of ``--out``; ``--speed`` times only one fixed prompt (a few
seconds a run, so two runtimes can alternate many times; its lines go in a ``.jsonl``):

    python benchmarks/llm.py evals/multihop.yaml --threads 2 --out /tmp/a1.json
    python benchmarks/llm.py --speed --threads 2 >> /tmp/speed.jsonl
    python benchmarks/llm.py --runtimes /tmp/a1.json /tmp/b1.json ... /tmp/speed.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from query import percentiles, rss_mb

from corpus import REPO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", type=Path, nargs="?")
    parser.add_argument("--n", type=int, default=20, help="questions of the test part")
    parser.add_argument("--threads", type=int, default=0, help="model threads (0: all cores)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/llm.json")
    parser.add_argument("--no-prefix-cache", action="store_true", help="read every prompt whole")
    parser.add_argument("--runtimes", type=Path, nargs="+", help="summarize these runs' results")
    parser.add_argument(
        "--speed", action="store_true", help="only time one fixed prompt (print tokens/s)"
    )
    args = parser.parse_args()
    if args.runtimes:
        summarize(args.runtimes, args.out)
        return
    if args.speed:
        speed(args.threads)
        return
    if args.suite is None:
        parser.error("give a suite, or --runtimes")
    os.environ["HF_HUB_OFFLINE"] = "1"

    import rag
    from rag.config import Settings
    from rag.evaluate.runner import suite_settings
    from rag.evaluate.suite import load_suite

    suite = load_suite(args.suite)
    cases = [c for c in suite.part("test") if c.answerable][: args.n]
    base = suite_settings(suite, Settings.from_env(), None)
    rag.ingest(suite.corpus, settings=base)
    local = base.replace(answerer="llm", llm="local", llm_threads=args.threads)

    from rag import local_llm

    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    rag.answer(cases[0].question, settings=local)  # load the model, fill the prefix cache
    (model,) = local_llm._MODELS.values()
    model.prefix_cache = not args.no_prefix_cache
    for case in cases:
        model.last = local_llm.Stats()
        t0 = time.perf_counter()
        extractive = rag.answer(case.question, settings=base)
        t_extractive = time.perf_counter() - t0
        t0 = time.perf_counter()
        shown = None  # the quotes, shown before the model runs
        first = None  # the model's first token
        final = None
        for piece in rag.stream(case.question, settings=local):
            if isinstance(piece, rag.Answer):
                final = piece
            elif shown is None:
                shown = time.perf_counter() - t0
            elif first is None and piece.strip():
                first = time.perf_counter() - t0
        total = time.perf_counter() - t0
        assert final is not None
        # The quotes answer (after the model's yes or no, if it gave one): its own sentences
        # did not hold up, or it wrote only the verdict. Their unsupported parts are not its.
        verdict = final.text.removeprefix("Yes. ").removeprefix("No. ")
        quotes = not final.refused and extractive.text.endswith(verdict)
        rows.append(
            {
                "id": case.id,
                "extractive_s": t_extractive,
                "quotes_s": shown,
                "first_s": None if final.refused else first,
                "full_s": total,
                "refused": final.refused,
                "extractive_refused": extractive.refused,
                "flagged": 0 if quotes else len(final.unsupported),
                "sentences": max(1, final.text.count("[")),
                "fallback": quotes,
                **vars(model.last),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    answered = [r for r in rows if not r["refused"]]
    read = [r for r in answered if r["prefill_s"]]
    made = [r for r in answered if r["generate_s"]]
    result = {
        "suite": str(args.suite),
        "runtime": model.runtime.name,
        "prefix_cache": model.prefix_cache,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "questions": len(rows),
        "threads": args.threads or os.cpu_count(),
        # Tokens per second reading the prompt (the part not found in the cache) and writing.
        "prompt_tokens": round(statistics.fmean(r["prompt_tokens"] for r in read), 1),
        "cached_tokens": round(statistics.fmean(r["cached_tokens"] for r in read), 1),
        "prompt_tok_s": round(
            sum(r["prompt_tokens"] - r["cached_tokens"] for r in read)
            / sum(r["prefill_s"] for r in read),
            1,
        ),
        "generated_tokens": round(statistics.fmean(r["generated"] for r in made), 1),
        "generate_tok_s": round(
            sum(r["generated"] for r in made) / sum(r["generate_s"] for r in made), 1
        ),
        "refused": sum(r["refused"] for r in rows),
        "quotes_after_verdict": sum(r["fallback"] for r in answered),
        "flagged_sentences": sum(r["flagged"] for r in rows),
        "quotes_shown": percentiles([r["quotes_s"] for r in answered if r["quotes_s"]]),
        "first_token": percentiles([r["first_s"] for r in answered if r["first_s"] is not None]),
        "full_answer": percentiles([r["full_s"] for r in answered]),
        "extractive_full": percentiles([r["extractive_s"] for r in rows]),
        "peak_rss_mb": rss_mb()[1],
    }
    if args.out.is_file():  # keep the comparison of runtimes a run of --runtimes wrote
        result.setdefault("runtimes", json.loads(args.out.read_text()).get("runtimes"))
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def speed(threads: int) -> None:
    """The runtime's own speed in a few seconds, so that runs of two runtimes can alternate
    many times on a shared machine; prints one JSON line.

    A prompt of ~300 words of an article, read whole and summarized in 32 tokens (twice,
    the first to warm up), gives tokens/s reading and writing. Then two prompts of the
    answerer's rules and ~300 words each: the second one's first token, three times with the
    rules found in the key/value cache (after the first prompt) and three times read whole."""
    from rag import local_llm
    from rag.answering.prompts import EVIDENCE_PROMPT
    from rag.config import Settings

    words = " ".join(
        p.read_text(encoding="utf-8") for p in sorted((REPO / "evals" / "multi").glob("*.md"))
    ).split()
    task = "Summarize the article in as many sentences as you can."
    long_reply = local_llm.chatml([("system", task), ("user", " ".join(words[:300]))])
    prompts = [
        local_llm.chatml([("system", EVIDENCE_PROMPT), ("user", " ".join(words[i : i + 300]))])
        for i in (0, 300)
    ]
    t0 = time.perf_counter()
    model = local_llm.LocalModel(
        local_llm.model_file(Settings.from_env().cache_dir), threads=threads
    )
    load_s = time.perf_counter() - t0
    model.prefix_cache = False
    for _ in range(2):
        list(model.generate(long_reply, max_tokens=32))
    s = model.last
    first: dict[bool, list[float]] = {True: [], False: []}
    hits = 0
    for _ in range(3):
        for cached in (True, False):
            model.prefix_cache = cached
            list(model.generate(prompts[0], max_tokens=1))
            list(model.generate(prompts[1], max_tokens=1))
            first[cached].append(model.last.prefill_s)
            hits = model.last.cached_tokens if cached else hits
    print(
        json.dumps(
            {
                "runtime": model.runtime.name,
                "load_average": round(os.getloadavg()[0], 2),
                "load_s": round(load_s, 2),
                "prompt_tokens": s.prompt_tokens,
                "second_prompt_tokens": model.last.prompt_tokens,
                "prompt_tok_s": round(s.prompt_tokens / s.prefill_s, 1),
                "generated": s.generated,
                "generate_tok_s": round(s.generated / s.generate_s, 1),
                "cached_tokens": hits,  # of the second prompt's, found in the cache
                "first_token_cached_ms": round(1000 * statistics.median(first[True]), 1),
                "first_token_whole_ms": round(1000 * statistics.median(first[False]), 1),
                "peak_rss_mb": round(rss_mb()[1]),
            }
        ),
        flush=True,
    )
    model.close()


MEDIANS = ("prompt_tok_s", "generate_tok_s", "peak_rss_mb")
TIMES = ("first_token", "full_answer")


def summarize(runs: list[Path], out: Path) -> None:
    """Each runtime's (and cache setting's) medians over its runs, into ``out``'s
    ``runtimes`` section."""
    groups: dict[str, list[dict[str, Any]]] = {}
    speeds: dict[str, list[dict[str, Any]]] = {}
    for path in runs:
        if path.suffix == ".jsonl":  # lines printed by --speed
            for line in path.read_text().splitlines():
                record = json.loads(line)
                speeds.setdefault(record["runtime"], []).append(record)
            continue
        run = json.loads(path.read_text())
        key = run["runtime"] + ("" if run["prefix_cache"] else " (no prefix cache)")
        groups.setdefault(key, []).append(run)
    section: dict[str, Any] = {}
    if speeds:
        section["speed"] = {
            name: {
                "runs": len(group),
                "load_average": [r["load_average"] for r in group],
                "prompt_tokens": group[0]["prompt_tokens"],
                **{
                    f: round(statistics.median(r[f] for r in group), 1)
                    for f in (
                        "load_s",
                        "prompt_tok_s",
                        "generate_tok_s",
                        "first_token_cached_ms",
                        "first_token_whole_ms",
                        "peak_rss_mb",
                    )
                },
            }
            for name, group in speeds.items()
        }
    for key, group in groups.items():
        row: dict[str, Any] = {"runs": len(group)}
        row["load_average"] = [r["load_average"] for r in group]
        for field in MEDIANS:
            row[field] = round(statistics.median(r[field] for r in group), 1)
        for field in TIMES:
            for p in ("p50_ms", "p95_ms"):
                row[f"{field}_{p}"] = round(statistics.median(r[field][p] for r in group), 1)
        row["prompt_tokens"] = group[0]["prompt_tokens"]
        row["cached_tokens"] = group[0]["cached_tokens"]
        section[key] = row
    result = json.loads(out.read_text()) if out.is_file() else {}
    result["runtimes"] = section
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(section, indent=2))


if __name__ == "__main__":
    main()
