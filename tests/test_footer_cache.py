"""Footer verdicts remembered between processes (store/footer_cache.py) never change a listing.

A second process lists a store from the cache without reading a footer, and whatever
happens to the directory afterwards (every hostile entry of tests/hostile.py added, a
remembered file damaged in place with its mtime put back, a file swapped by rename) a
listing with the cache equals one without it. A damaged, foreign or unwritable cache
costs speed only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import hostile
import pytest
import store_sample

from specviz.store import catalog, footer_cache
from specviz.store.catalog import scan

GOOD = [f"{i:04x}00000000cafe" for i in range(1, 9)]

with tempfile.TemporaryDirectory() as _tmp:
    ENTRIES = hostile.all_entries(hostile.victim_bytes(Path(_tmp)))


@pytest.fixture(autouse=True)
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECVIZ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(footer_cache, "MIN_FILES", 1)  # the template holds 8 runs, not 64
    _forget_in_process()
    yield tmp_path / "cache"
    _forget_in_process()


def _forget_in_process() -> None:
    """What a new process starts with: no verdict in memory."""
    catalog._FOOTERS.clear()
    footer_cache._KNOWN.clear()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    traces = tmp_path_factory.mktemp("good") / "traces"
    store_sample.record_as(GOOD, *[(traces, {"k": k}) for k in range(1, 9)])
    return traces


def _seen(traces: Path) -> tuple:
    listing = scan(traces)
    runs = sorted((s.run_id, s.status, str(s.path)) for s in listing.runs)
    problems = sorted((str(p.path), p.message) for p in listing.problems)
    return runs, problems, sorted(str(f.path) for f in listing.files)


def _uncached(traces: Path, monkeypatch) -> tuple:
    _forget_in_process()
    with monkeypatch.context() as m:
        m.setenv("SPECVIZ_CACHE_DIR", "off")
        return _seen(traces)


def test_a_new_process_lists_from_the_cache_without_reading_a_footer(template, tmp_path, monkeypatch, cache_here):
    traces = tmp_path / "traces"
    shutil.copytree(template, traces)
    first = _seen(traces)
    assert len(list((cache_here / "footers").glob("*.msgpack"))) == 1
    _forget_in_process()

    def no_footer_reads(*args, **kwargs):
        raise AssertionError("a footer was read although the cache knew the file")

    monkeypatch.setattr(catalog, "inspect_many", no_footer_reads)
    monkeypatch.setattr(catalog, "inspect_file", no_footer_reads)
    assert _seen(traces) == first
    assert {r[0] for r in first[0]} == set(GOOD) and not first[1]


def _damage_in_place(path: Path) -> None:
    """Flip one byte of the footer in place and put the mtime back: only ctime tells."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(st.st_size - 40)
        byte = f.read(1)
        f.seek(st.st_size - 40)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def test_a_remembered_file_changed_afterwards_is_checked_again(template, tmp_path, monkeypatch):
    traces = tmp_path / "traces"
    shutil.copytree(template, traces)
    _seen(traces)
    files = sorted(traces.glob("date=*/run-*.parquet"))
    _damage_in_place(files[0])
    swapped = files[1].with_suffix(".new")
    swapped.write_bytes(files[1].read_bytes()[: -100])  # truncated, published by rename
    os.replace(swapped, files[1])
    _forget_in_process()
    cached = _seen(traces)
    assert cached == _uncached(traces, monkeypatch)
    assert {p for p, _ in cached[1]} == {str(files[0]), str(files[1])}


def test_a_damaged_or_foreign_cache_is_ignored(template, tmp_path, monkeypatch, cache_here):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(template, a)
    shutil.copytree(template, b)
    next(b.glob("date=*/run-*.parquet")).unlink()
    _seen(a)
    _seen(b)
    caches = sorted((cache_here / "footers").glob("*.msgpack"))
    assert len(caches) == 2
    truth = {d: _uncached(d, monkeypatch) for d in (a, b)}
    shutil.copy(caches[0], caches[1])  # one directory's cache under the other's name
    for d in (a, b):
        _forget_in_process()
        assert _seen(d) == truth[d]
    for garbage in (b"", b"\x00" * 100, os.urandom(5000), caches[0].read_bytes()[:-7]):
        for cache in caches:
            cache.write_bytes(garbage)
        for d in (a, b):
            _forget_in_process()
            assert _seen(d) == truth[d]


def test_an_unusable_cache_directory_costs_nothing_but_speed(template, tmp_path, monkeypatch):
    traces = tmp_path / "traces"
    shutil.copytree(template, traces)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("SPECVIZ_CACHE_DIR", str(blocker))
    first = _seen(traces)
    assert first == _uncached(traces, monkeypatch)
    monkeypatch.setenv("SPECVIZ_CACHE_DIR", "off")
    assert footer_cache.cache_dir() is None


def test_old_directories_are_forgotten_first(template, tmp_path, monkeypatch, cache_here):
    monkeypatch.setattr(footer_cache, "MAX_DIRECTORIES", 3)
    for i in range(5):
        d = tmp_path / f"d{i}"
        shutil.copytree(template, d)
        _seen(d)
    assert len(list((cache_here / "footers").glob("*.msgpack"))) == 3


@pytest.mark.timeout(900)
def test_every_hostile_entry_lists_the_same_with_a_warm_cache(template, tmp_path, monkeypatch):
    for i, entry in enumerate(ENTRIES):
        traces = tmp_path / f"t{i}"
        shutil.copytree(template, traces, symlinks=True)
        _seen(traces)  # the good runs are remembered
        try:
            entry.build(traces, "01")
        except PermissionError:  # mknod of a device node needs root
            shutil.rmtree(traces)
            continue
        _forget_in_process()
        assert _seen(traces) == _uncached(traces, monkeypatch), entry.name
        shutil.rmtree(traces, ignore_errors=True)
