"""What the Replay page needs besides the player: the run list and the payload per run version.

The scrub controls themselves live in the client-side player (viewer/player/frontend),
so moving the position never waits on the server.
"""

from __future__ import annotations

from specviz.replay import ReplayIndex
from viewer.data import without_gc
from viewer.player.payload import encode

TICK_S = 2.0  # backstop re-read of a run still recording (the player asks every 0.5 s)


def payload_for(index: ReplayIndex) -> tuple[str, str]:
    """(payload JSON, version) for a folded run, encoded once per index.

    The index is shared between sessions (data.load_index caches it per file version),
    so the memo is too; the version names the run and how far it has been read.
    """
    cached = index.memo.get("player_payload")
    if cached is None:
        started = index.started
        run_id = started.run_id if started is not None else ""
        version = f"{run_id}:{index.n_events}:{index.finished_at}"
        cached = index.memo["player_payload"] = (without_gc(encode, index), version)
    return cached


def run_choices(ids: list[str], current: str | None) -> tuple[list[str], str | None]:
    """The run ids to offer and which of them is `current`, which a link may give as a
    unique prefix (an unknown one stays on the list, so the page can say it is unknown)."""
    if current is None or current in ids:
        return ids, current
    matches = [i for i in ids if i.startswith(current)]
    if len(matches) == 1:
        return ids, matches[0]
    return ids + [current], current
