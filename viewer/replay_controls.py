"""What the Replay page needs besides the player: the run list and what to send the player.

The scrub controls themselves live in the client-side player (viewer/player/frontend),
so moving the position never waits on the server.
"""

from __future__ import annotations

import msgspec

from specviz.replay import ReplayIndex
from viewer.data import without_gc
from viewer.live_follow import KEEP_SENT, LiveRun
from viewer.player.payload import delta, encode_json, payload

TICK_S = 2.0  # backstop re-read of a run still recording (the player asks every 0.5 s)


def encoded(index: ReplayIndex) -> dict:
    """The run's payload for the player, built once per index (the index is shared between
    sessions: data.load_index caches it per file version, so this memo is too). The
    version names the run and how far it has been read; a live run keeps its payload as
    a dict too, the base of the next read's delta."""
    memo = index.memo.get("player_payload")
    if memo is None:
        started = index.started
        run_id = started.run_id if started is not None else ""
        body = without_gc(payload, index)
        memo = index.memo["player_payload"] = {
            "version": f"{run_id}:{index.n_events}:{index.finished_at}",
            "n_events": index.n_events,
            "text": encode_json(body),
            "body": body if index.live else None,
        }
    return memo


def prepare_player_data(index: ReplayIndex) -> None:
    """Build the run's payload (kept with the index) before the page needs it."""
    encoded(index)


def player_data(index: ReplayIndex, posted: dict | None, sent: dict[str, dict]) -> tuple[str, str]:
    """(data, version) for the player, from its last post (the version it `have`s, and
    whether it `ask`s for one it could not use): nothing when it has this version; while
    the run records, only what changed since the version this session sent last (`sent`,
    oldest first, updated here), or since the one it holds when it asks; else the whole
    payload. Posts lag behind the messages the player has applied, hence "sent last".
    A run that was followed from its log (viewer/live_follow.py) ends here, once it is
    published: the log's last payload is the base of the delta to the finished one."""
    memo = encoded(index)
    version, body = memo["version"], memo["body"]
    have = posted.get("have") if posted else None
    if have == version:
        return "", version
    base_version = None
    if have is not None and sent:  # a player this session has sent a run to (a live one)
        base_version = have if posted.get("ask") else next(reversed(sent), None)
    base = sent.get(base_version)
    if isinstance(base, LiveRun):  # followed from its log until it was published
        base = base.body_at(base_version)
    if body is not None:
        sent[version] = body
        for old in list(sent)[:-KEEP_SENT]:
            del sent[old]
    if base is not None:
        new = body if body is not None else msgspec.json.decode(memo["text"])  # finished: once
        return encode_json({"base": base_version, "delta": delta(base, new)}), version
    return memo["text"], version


def run_choices(ids: list[str], current: str | None) -> tuple[list[str], str | None]:
    """The run ids to offer and which of them is `current`, which a link may give as a
    unique prefix (an unknown one stays on the list, so the page can say it is unknown)."""
    if current is None or current in ids:
        return ids, current
    matches = [i for i in ids if i.startswith(current)]
    if len(matches) == 1:
        return ids, matches[0]
    return ids + [current], current
