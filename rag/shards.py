"""``rag ingest --shard I/N``: N processes (on N machines) sync disjoint parts of one corpus
into one Chroma server.

Each article belongs to exactly one shard, by a hash of its id (its content hash), so the
partition is the same on every machine and does not depend on file names or folder layout:
every shard reads the same files (unchanged ones are not parsed again), and embeds, stores,
updates and removes only the articles it owns. The N syncs together do what one unsharded
sync does, article for article. An article whose file is gone is removed by the shard that
owns it; an article whose text changed gets a new id and may move to another shard, which
stores the new version while the old one's owner removes the old.

The shared state (``rag-state``) records each running shard and the shards that finished
since this generation began (``shards``); it is only ever changed under the ingest lock,
held for a moment by each shard at its start and end, so no update is lost. Each shard also
holds a lock of its own for its whole run, so one shard never runs twice at once. A new
generation (the first ingest, or a new embedding model) becomes the one searched only when
all N shards have finished. An unsharded sync (or ``rag check``) is refused while shards
run, and a shard while an unsharded sync runs. A shard that was killed is run again with
the same ``I/N``: it repairs what it left half-stored, then syncs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, RagError
from .types import doc_id_of

if TYPE_CHECKING:
    from .store import Store

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# What a shard's own lock is called on the server; the main ingest lock is index.LOCK_COLLECTION.
LOCK_PREFIX = "rag-ingest-lock-shard-"
BRIEF = "brief"  # the ingest lock's kind while a shard records its start or end


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as ``--shard 2/3`` writes it)."""

    index: int
    count: int

    @classmethod
    def parse(cls, spec: str | Shard) -> Shard:
        """``"2/3"`` -> Shard(2, 3); a clear :class:`ConfigError` for anything else."""
        if isinstance(spec, Shard):
            return spec
        match = _SPEC.match(str(spec))
        if not match:
            raise ConfigError(
                f"--shard {spec!r}: write it as I/N, shard I of N, e.g. --shard 1/3, "
                "--shard 2/3 and --shard 3/3 on three machines"
            )
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or not 1 <= index <= count:
            raise ConfigError(
                f"--shard {spec}: I must be from 1 to N and N at least 1 (shard {index} of "
                f"{count} does not exist); the shards of {max(count, 1)} are "
                + ", ".join(f"{i}/{max(count, 1)}" for i in range(1, min(max(count, 1), 3) + 1))
                + (", ..." if count > 3 else "")
            )
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, doc_id: str) -> bool:
        """Whether this shard syncs the article ``doc_id`` (exactly one shard of N does)."""
        digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def owns_chunk(self, chunk_id: str) -> bool:
        return self.owns(doc_id_of(chunk_id))

    @property
    def lock_name(self) -> str:
        return f"{LOCK_PREFIX}{self.index}-of-{self.count}"


def running_shards(store: Store, state: dict[str, Any]) -> list[str]:
    """The shards the shared state records as running whose process is alive, each as
    ``"I/N (host:pid)"``."""
    return alive_shards(store, (state.get("shards") or {}).get("running") or {})


def refuse_while_running(store: Store, state: dict[str, Any]) -> None:
    """Refuse a whole sync (or ``rag check``) while shards write: it would take their
    half-stored articles for leftovers of a crash."""
    shards = running_shards(store, state)
    if shards:
        raise RagError(
            f"a sharded ingest into {store.location} is running (shards {', '.join(shards)}): "
            "wait for its shards to finish and run yours again"
        )


def alive_shards(store: Store, keys: Iterable[str]) -> list[str]:
    """Of the shards ``keys`` (``"I/N"``), those whose process holds its lock."""
    from .index import _lease_alive

    alive = []
    for key in sorted(keys):
        held = store.read_lock(Shard.parse(key).lock_name)
        if held is not None and _lease_alive(held[1]):
            alive.append(f"{key} ({held[1].get('owner', '')})")
    return alive


def begin(store: Store, shard: Shard, target: str, lease: dict[str, Any]) -> bool:
    """Record ``shard`` as running for generation ``target``; True when it must repair first
    (it was killed before, or a sync that wrote to this generation was)."""
    from .index import IngestLock

    key = str(shard)
    with IngestLock(store, kind=BRIEF):
        state = store.state()
        rec = dict(state.get("shards") or {})
        running = dict(rec.get("running") or {})
        alive = alive_shards(store, [k for k in running if k != key])
        if alive and (rec.get("gen") != target or rec.get("count") != shard.count):
            what = (
                f"of {rec.get('count')} shards"
                if rec.get("gen") == target
                else f"for another embedding model or chunk setting ({rec.get('gen')})"
            )
            raise RagError(
                f"--shard {shard}: a sharded ingest {what} is running ({', '.join(alive)}) "
                f"into {store.location}; every process of one sharded ingest uses the same N "
                f"and settings: wait for it to finish, or run yours as its shards"
            )
        repair = bool(rec.get("repair"))
        if rec.get("gen") != target:
            repair = False  # what dead shards left is in another generation
            running = {}
        elif rec.get("count") != shard.count:
            # A new partition: what a dead shard of the old one left half-stored is not
            # any single new shard's, so every shard of the new one repairs its part.
            repair = repair or bool(running)
            running = {}
        interrupted = key in running or repair or (state.get("syncing") or {}).get("gen") == target
        if rec.get("gen") != target or rec.get("count") != shard.count:
            rec = {"gen": target, "count": shard.count, "done": [], "repair": repair}
        running[key] = lease
        store.set_state(shards={**rec, "running": running})
        return interrupted


def finish(
    store: Store, shard: Shard, target: str, changed: bool, switch: Callable[[], dict[str, Any]]
) -> str | None:
    """Record ``shard`` as finished; when it was the last of the N and the generation is new,
    make it the one searched (with ``switch()``'s state) and return the generation it
    replaces (``""`` when there was none), else None."""
    import datetime as dt

    from .index import IngestLock

    with IngestLock(store, kind=BRIEF):
        state = store.state()
        rec = dict(state.get("shards") or {})
        running = dict(rec.get("running") or {})
        running.pop(str(shard), None)
        done = sorted({*rec.get("done", []), shard.index})
        complete = rec.get("gen") == target and len(done) == shard.count
        changes: dict[str, Any] = {
            "shards": {**rec, "running": running, "done": done}
            | ({"repair": False} if complete else {}),
            "revision": int(state.get("revision", 0)) + (1 if changed else 0),
            "last_sync": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if complete and (state.get("syncing") or {}).get("gen") == target:
            changes["syncing"] = None  # every shard has repaired its part of it
        old = state.get("active")
        switched = complete and old != target
        if switched:
            changes.update(switch())
            changes["revision"] = int(state.get("revision", 0)) + 1
        store.set_state(**changes)
        return str(old or "") if switched else None
