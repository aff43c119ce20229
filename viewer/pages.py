"""The viewer's pages, declared once, and what every page starts with.

Adding a page is one line in ``PAGES`` plus its file ``views/<url_path>.py``; navigation,
links between pages (``switch_to``) and the tests' page list all read this tuple.
Each page opens with ``header`` and reads runs through ``load_or_stop`` / ``choose_runs``,
so the session defaults, the error wording and the refreshing run pickers are the same
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from specviz.replay import ReplayIndex
from viewer import data, session

PICKER_REFRESH_S = 2  # how soon a new or live run shows up in a picker


@dataclass(frozen=True)
class PageSpec:
    url_path: str  # also the URL path: /replay?run=...
    title: str
    icon: str

    @property
    def file(self) -> str:
        """Relative to the entry file, as st.Page and st.switch_page want it."""
        return f"views/{self.url_path}.py"


PAGES = (
    PageSpec("runs", "Runs", ":material/list:"),
    PageSpec("replay", "Replay", ":material/play_circle:"),
    PageSpec("compare", "Compare", ":material/compare_arrows:"),
    PageSpec("sql", "SQL", ":material/database:"),
    PageSpec("analysis", "Analysis", ":material/analytics:"),
)


def _spec(url_path: str) -> PageSpec:
    (spec,) = [p for p in PAGES if p.url_path == url_path]
    return spec


def navigation():
    """st.navigation over PAGES; with a run given at launch (`specviz view RUN`) Replay opens first."""
    default = "replay" if st.session_state.launch_run else "runs"
    # In the top bar, not the sidebar: a sidebar takes 300 px of a 1024 px screen.
    return st.navigation([
        st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path, default=p.url_path == default)
        for p in PAGES
    ], position="top")


def switch_to(url_path: str) -> None:
    st.switch_page(_spec(url_path).file)


def link(url_path: str, label: str, **params: str) -> None:
    """A link to another page with its deep-link parameters (see session.py), same tab."""
    st.page_link(_spec(url_path).file, label=label, query_params=params)


def header(title: str):
    """Session defaults, then the page title; returns the session state."""
    session.init()
    st.header(title)
    for note in data.moved_notes(st.session_state.traces_dir):
        st.caption(note)  # launched on a file the store moved since: said on every page
    return st.session_state


def load_or_stop(run_id: str, verb: str = "open") -> ReplayIndex:
    """The folded run, or its error on the page and the page (or fragment) stopped."""
    try:
        return data.load_index(data.Source(session.source_path(run_id), run_id))
    except data.trace_error_types() as exc:
        st.error(f"Cannot {verb} run `{run_id}`: {exc}")
        st.stop()


def run_rows() -> dict[str, dict]:
    """Every run a picker offers, by id: the traces directory (live runs too), then opened files."""
    try:
        rows = {r["run_id"]: r for r in data.list_runs(session.traces_dir())}
    except data.trace_error_types() as exc:
        st.error(f"Cannot list `{session.traces_dir()}`: {exc}")
        rows = {}
    for run_id in st.session_state.opened:
        rows.setdefault(run_id, {"run_id": run_id})
    return rows


def full_ids(ids: list[str]) -> list[str]:
    """Unique prefixes (from a pasted link) as the full run ids the pickers list; anything
    else is kept as given, for load_or_stop to report."""
    known = list(run_rows())
    out = []
    for r in ids:
        matches = [k for k in known if k.startswith(r)]
        out.append(matches[0] if len(matches) == 1 else r)
    return list(dict.fromkeys(out))


def run_label(row: dict) -> str:
    if "status" not in row:
        return f"{row['run_id']} (opened file)"
    return (f"{row['run_id'][:8]} · {row['status']} · {row['method'] or '—'} · K={row['k']} · "
            f"{str(row['prompt'] or '')[:40]}")


@st.fragment(run_every=PICKER_REFRESH_S)
def _picker(label: str, n: int, key: str) -> None:
    # Its own fragment on a timer: the options follow the directory without a page reload;
    # a changed choice reruns the whole page, which then draws the chosen run(s).
    ss = st.session_state
    rows = run_rows()
    labels = {r: run_label(row) for r, row in rows.items()}
    options = list(rows) + [r for r in ss[key] if r not in rows]
    chosen = st.multiselect(label, options, max_selections=n, key=f"{key}_pick",
                            format_func=lambda r: labels.get(r, r),
                            placeholder=f"choose {'a run' if n == 1 else f'{n} runs'}")
    if not options:
        st.info(f"No runs in `{session.traces_dir()}` yet. Record one with `specviz record`, "
                "or open a file on the Runs page.")
    if chosen != ss[key]:
        ss[key] = ss[f"{key}_synced"] = list(chosen)
        st.rerun(scope="app")


def choose_runs(label: str, n: int, key: str) -> list[str]:
    """n runs from a picker that refreshes itself, kept in ``st.session_state[key]`` (a list
    that deep links and other pages may also set); stops the page until n are chosen."""
    ss = st.session_state
    ss.setdefault(key, [])
    # Another page or a link changed the choice, or the widget was not drawn on the last
    # page (Streamlit then forgets its value): the picker shows the session's choice.
    if f"{key}_pick" not in ss or ss[key] != ss.get(f"{key}_synced"):
        ss[f"{key}_pick"] = ss[f"{key}_synced"] = list(ss[key])
    _picker(label, n, key)
    if len(ss[key]) != n:
        st.info("Choose one more run." if len(ss[key]) == n - 1 >= 1
                else f"Choose {label[0].lower()}{label[1:]}.")
        st.stop()
    return list(ss[key])
