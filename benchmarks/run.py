"""Run every benchmark at each size; write results JSON, an SVG chart and the README table.

    python benchmarks/run.py                 # sizes from BENCH_SIZES, default 1k,10k
    python benchmarks/run.py --size 100k     # add 100k (embedding it takes hours on 2 CPUs)

Results: ``benchmarks/results/latest.json``, ``results/chart.svg`` and the table
between the markers in ``benchmarks/README.md``. Corpora and indexes are cached
under ``benchmarks/.cache`` so a second run neither regenerates nor re-embeds.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chart import render_svg
from ingest import bench_env, first_ingest, index_dir, resync, run_measured
from query import percentiles, questions

from corpus import REPO, size_of

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"
COLD_QUESTION = "Which company was sued by the Federal Trade Commission?"


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def query(name: str, rerank: bool, n: int, profile: Path | None = None) -> dict[str, Any]:
    args = [sys.executable, str(HERE / "query.py"), "--index", str(index_dir(name))]
    args += ["--rerank", str(int(rerank)), "--n", str(n)]
    if profile:
        args += ["--profile", str(profile)]
    _, _, out = run_measured(args, bench_env(index_dir(name)))
    return dict(json.loads(out.strip().splitlines()[-1]))


def cold_ask(name: str, runs: int = 3) -> dict[str, Any]:
    """New `rag ask` process to printed answer (OS file cache warm, nothing else)."""
    rag = Path(sys.executable).with_name("rag")
    walls = [
        run_measured([str(rag), "ask", COLD_QUESTION], bench_env(index_dir(name)))[0]
        for _ in range(runs)
    ]
    return {"median_s": round(statistics.median(walls), 2), "runs_s": [round(w, 2) for w in walls]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def concurrency(name: str, per_client: int = 4) -> dict[str, Any]:
    """1, 4 and 8 simultaneous gradio_client clients against one ui.py on the index.

    Before those, in the same ui.py process: one client's time to the first streamed
    answer text and to the final update of the chat event (see :func:`stream_latency`).
    """
    ui = REPO / "ui.py"
    if not ui.exists():
        return {"skipped": "ui.py is not in the repository yet"}
    from gradio_client import Client

    port = free_port()
    env = {**bench_env(index_dir(name)), "RAG_PORT": str(port), "RAG_HOST": "127.0.0.1"}
    log = (HERE / ".cache" / f"ui-{name}.log").open("w")
    proc = subprocess.Popen([sys.executable, str(ui)], env=env, cwd=REPO, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                return {"skipped": f"ui.py exited with {proc.returncode}; see {log.name}"}
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    return {"skipped": "ui.py did not answer HTTP within 300 s"}
                time.sleep(0.5)
        qs = questions(40)
        try:
            Client(url, verbose=False).predict(qs[0], "[]", api_name="/answer")  # warm the models
        except Exception as exc:  # a UI API that changed is reported, not fatal
            return {"skipped": f"/answer failed: {type(exc).__name__}: {exc}"}
        out: dict[str, Any] = {"stream": stream_latency(url, qs)}
        for clients in (1, 4, 8):

            def worker(offset: int) -> list[float]:
                client = Client(url, verbose=False)
                times = []
                for i in range(per_client):
                    question = qs[(offset * per_client + i) % len(qs)]
                    t0 = time.perf_counter()
                    client.predict(question, "[]", api_name="/answer")
                    times.append(time.perf_counter() - t0)
                return times

            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                latencies = [t for ts in pool.map(worker, range(clients)) for t in ts]
            elapsed = time.perf_counter() - started
            out[str(clients)] = {
                **percentiles(latencies),
                "answers_per_s": round(len(latencies) / elapsed, 2),
            }
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        fields = dict(line.split(":", 1) for line in status)
        out["ui_peak_rss_mb"] = round(int(fields["VmHWM"].split()[0]) / 1024)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


_TAG = re.compile(r"<[^>]+>")
STREAM_TIMEOUT_S = 300.0


def stream_latency(url: str, qs: list[str], n: int = 10) -> dict[str, Any]:
    """One client on the UI's streaming ``/chat`` event, as the browser uses it.

    For each of ``n`` questions, in a new session with an empty chat: the time from
    ``Client.submit`` to the first update whose assistant message holds answer text (not
    the user's message alone, nor the empty pending bubble), and to the final update.
    Other settings take the values the page starts with. Anything unexpected in the event's
    inputs or outputs is reported as ``{"skipped": reason}``.
    """
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
        args = _chat_args(client.config)
    except Exception as exc:
        return {"skipped": f"/chat not usable: {type(exc).__name__}: {exc}"}
    if isinstance(args, str):
        return {"skipped": args}
    try:
        _time_chat(client, qs[-1], args)  # untimed: warms this path
    except Exception as exc:
        return {"skipped": f"/chat failed: {type(exc).__name__}: {exc}"[:300]}
    first_s: list[float] = []
    final_s: list[float] = []
    updates: list[int] = []
    errors: list[str] = []
    for question in qs[:n]:
        try:
            first, final, count = _time_chat(client, question, args)
        except Exception as exc:  # counted, so one bad question does not sink the rest
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
            continue
        first_s.append(first)
        final_s.append(final)
        updates.append(count)
    if not first_s:
        return {"skipped": f"every /chat question failed, e.g. {errors[0]}"}
    return {
        "first_text": percentiles(first_s),
        "final": percentiles(final_s),
        "updates_per_answer": round(statistics.fmean(updates), 1),
        "errors": errors,
    }


def _chat_args(config: dict[str, Any]) -> list[Any] | str:
    """The ``/chat`` inputs after the question (a new, empty chat), or why they do not fit."""
    dep = next((d for d in config["dependencies"] if d.get("api_name") == "chat"), None)
    if dep is None:
        return "ui.py has no chat event with api_name='chat'"
    components = {c["id"]: c for c in config["components"]}
    inputs = [components[i] for i in dep["inputs"] if components[i]["type"] != "state"]
    kinds = [c["type"] for c in inputs]
    if kinds[:2] != ["textbox", "chatbot"]:
        return f"/chat inputs are {kinds}, expected a textbox and a chatbot first"
    if "chatbot" not in [components[i]["type"] for i in dep["outputs"]]:
        return "/chat does not output the chatbot"
    if not dep.get("types", {}).get("generator"):
        return "/chat is not a streaming (generator) event"
    return [[], *(c.get("props", {}).get("value") for c in inputs[2:])]


def _time_chat(client: Any, question: str, args: list[Any]) -> tuple[float, float, int]:
    """Seconds to the first update with answer text and to the final one, and the updates."""
    client.reset_session()  # no follow-up history from the previous question
    started = time.perf_counter()
    job = client.submit(question, *args, api_name="/chat")
    first: float | None = None
    seen = 0
    while True:
        done = job.done()  # read before the outputs, so none arrive unseen after it
        outputs = list(job.outputs())
        now = time.perf_counter()
        for output in outputs[seen:]:
            if first is None and _answer_text(output):
                first = now - started
        seen = len(outputs)
        if done:
            break
        if now - started > STREAM_TIMEOUT_S:
            job.cancel()
            raise TimeoutError(f"no final update within {STREAM_TIMEOUT_S:.0f} s")
        time.sleep(0.002)
    job.result()  # raises what the event raised
    final = time.perf_counter() - started
    if not outputs:
        raise ValueError("the chat event produced no updates")
    last = _answer_text(outputs[-1])
    if first is None or last is None:
        raise ValueError(f"no assistant answer text in the updates: {str(outputs[-1])[:200]}")
    if "error-note" in last:
        raise RuntimeError(f"the UI showed an error: {_plain(last)[:200]}")
    return first, final, len(outputs)


def _answer_text(output: Any) -> str | None:
    """The last chat message's HTML if it is an assistant message with visible text."""
    chats = [o for o in (output if isinstance(output, tuple) else (output,)) if isinstance(o, list)]
    if not chats or not chats[-1] or not isinstance(chats[-1][-1], dict):
        return None
    message = chats[-1][-1]
    if message.get("role") != "assistant":
        return None
    content = message.get("content")
    parts = content if isinstance(content, list) else [content]
    text = "".join(str(p.get("text") or "") if isinstance(p, dict) else str(p or "") for p in parts)
    if 'class="stage"' in text and 'class="answer-text' not in text:
        return None  # only the stage ("Searching 1,429 articles…"), no answer text yet
    return text if _plain(text) not in ("", "…") else None


def _plain(markup: str) -> str:
    return html.unescape(_TAG.sub(" ", markup)).strip()


def run_size(name: str, n: int) -> dict[str, Any]:
    print(f"[{name}] ingest (cached after the first run) ...", flush=True)
    result: dict[str, Any] = {"size": name, "ingest": first_ingest(name)}
    print(f"[{name}] no-change re-sync ...", flush=True)
    result["resync"] = resync(name)
    print(f"[{name}] warm queries ...", flush=True)
    profile = RESULTS / f"profile-answer-{name}.txt" if name == "10k" else None
    result["query"] = query(name, rerank=False, n=n, profile=profile)
    result["query_rerank"] = query(name, rerank=True, n=n)
    print(f"[{name}] cold `rag ask` ...", flush=True)
    result["cold_ask"] = cold_ask(name)
    print(f"[{name}] concurrent clients via ui.py ...", flush=True)
    result["concurrency"] = concurrency(name)
    return result


def table(results: dict[str, Any]) -> str:
    """The README table: one column per size."""
    sizes = results["sizes"]
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("passages / articles", lambda r: f"{r['ingest']['corpus']['passages']:,} / "
         f"{r['ingest']['corpus']['articles']:,}"),
        ("ingest, passages/s", lambda r: r["ingest"]["ingest_passages_per_s"]),
        ("raw encode (same engine, same work), passages/s",
         lambda r: r["ingest"]["raw_encode_passages_per_s"]),
        ("ingest / raw encode (target ≥ 0.90)", lambda r: r["ingest"]["ingest_vs_raw_encode"]),
        ("the same in CPU time (whole ingest process)",
         lambda r: r["ingest"]["ingest_vs_raw_encode_cpu"]),
        ("ingest peak RSS, MB", lambda r: r["ingest"]["ingest_peak_rss_mb"]),
        ("no-change re-sync: sync / whole process, s", lambda r: f"{r['resync']['resync_sync_s']}"
         f" / {r['resync']['resync_wall_s']}"),
        ("same, comparing the whole manifest, s", lambda r: _full_resync(r["resync"])),
        ("answer() p50 / p95, ms (target 100 / 250; 150 / 300 at 100k)", _pair("query", "answer")),
        ("answer() CPU time p50 / p95, ms (both cores)", _pair("query", "answer_cpu")),
        ("retrieve() p50 / p95, ms", _pair("query", "retrieve")),
        ("answer() + rerank p50 / p95, ms", _pair("query_rerank", "answer")),
        ("retrieve() + rerank p50 / p95, ms", _pair("query_rerank", "retrieve")),
        ("serving peak RSS, MB (target ≤ 1024 at 100k)", lambda r: r["query"]["peak_rss_mb"]),
        ("`rag ask` cold, s (target ≤ 2)", lambda r: r["cold_ask"]["median_s"]),
        ("ui.py, 1/4/8 clients p50 ms", _concurrency_cell),
        ("ui.py, answers/s: 8 clients / 1 client (target ≥ 1.7)", _throughput_cell),
        ("UI time to first text / full answer p50, ms", _stream_cell),
    ]  # fmt: skip
    names = sorted(sizes, key=size_of)
    heads = [f"{n} (run {sizes[n]['from_run']})" if "from_run" in sizes[n] else n for n in names]
    lines = ["| | " + " | ".join(heads) + " |", "| --- |" + " --- |" * len(names)]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(_cell(cell, sizes[n]) for n in names) + " |")
    m = results["machine"]
    lines.append("")
    lines.append(
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}; "
        f"load average at start {m['load_avg_at_start']}; run {results['finished']}."
    )
    return "\n".join(lines)


def _cell(cell: Callable[[dict[str, Any]], Any], result: dict[str, Any]) -> str:
    try:
        return str(cell(result))
    except KeyError:  # a row that results from an earlier version of this script lack
        return "–"


def _full_resync(resync: dict[str, Any]) -> str:
    if "resync_full_sync_s" not in resync:  # results from before the sync stamp
        return "–"
    return f"{resync['resync_full_sync_s']} / {resync['resync_full_wall_s']}"


def _pair(group: str, key: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: f"{r[group][key]['p50_ms']} / {r[group][key]['p95_ms']}"


def _concurrency_cell(r: dict[str, Any]) -> str:
    conc = r["concurrency"]
    if "skipped" in conc:
        return f"skipped ({conc['skipped']})"
    return " / ".join(f"{conc[c]['p50_ms']:.0f}" for c in ("1", "4", "8"))


def _throughput_cell(r: dict[str, Any]) -> str:
    conc = r["concurrency"]
    if "skipped" in conc or "answers_per_s" not in conc.get("1", {}):
        return "–"
    one, eight = conc["1"]["answers_per_s"], conc["8"]["answers_per_s"]
    return f"{eight} / {one} = {eight / one:.2f}"


def _stream_cell(r: dict[str, Any]) -> str:
    conc = r["concurrency"]
    stream = conc.get("stream") or {"skipped": conc.get("skipped", "not measured")}
    if "skipped" in stream:
        return f"skipped ({stream['skipped']})"
    return f"{stream['first_text']['p50_ms']:.0f} / {stream['final']['p50_ms']:.0f}"


def update_readme(results: dict[str, Any]) -> None:
    text = README.read_text(encoding="utf-8")
    before, rest = text.split(TABLE_START, 1)
    _, after = rest.split(TABLE_END, 1)
    body = f"{TABLE_START}\n{table(results)}\n\n![latency chart](results/chart.svg)\n{TABLE_END}"
    README.write_text(before + body + after, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        action="append",
        help="1k, 10k, 100k (repeatable or comma-separated); default BENCH_SIZES or 1k,10k",
    )
    parser.add_argument("--n", type=int, default=40, help="questions timed per measurement")
    args = parser.parse_args()
    wanted = ",".join(args.size or [os.environ.get("BENCH_SIZES", "1k,10k")])
    sizes = [s.strip() for s in wanted.split(",") if s.strip()]

    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "sizes": {}}
    for name in sizes:
        results["sizes"][name] = run_size(name, args.n)
    # Sizes not run this time (100k takes hours) keep their last results, marked with
    # the run they come from.
    latest = RESULTS / "latest.json"
    earlier = json.loads(latest.read_text()) if latest.exists() else {}
    for name, result in earlier.get("sizes", {}).items():
        if name not in results["sizes"]:
            result.setdefault("from_run", earlier.get("finished", "an earlier run"))
            results["sizes"][name] = result
    results["finished"] = time.strftime("%Y-%m-%d %H:%M")
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "chart.svg").write_text(render_svg(results))
    update_readme(results)
    print(table(results))


if __name__ == "__main__":
    main()
