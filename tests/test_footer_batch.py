"""The bulk footer check (store/footer_batch.py) agrees with the per-file one.

Every hostile entry (tests/hostile.py) is placed beside eight good runs, enough for the
bulk path, and whatever the bulk path decides about a file must be what the careful
per-file path (`footer.inspect_file`) decides: the same run metadata, rows and columns
for a good file, an error for a bad one. Files it cannot judge it leaves out, and the
per-file path takes them; the test also checks that it does judge most of them, so it
cannot pass by always deferring.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hostile
import pytest
import store_sample

from specviz.store.catalog import scan
from specviz.store.footer import inspect_file
from specviz.store.footer_batch import inspect_many, plain_files
from specviz.store.layout import TraceError, parquet_files

GOOD = [f"{i:04x}00000000f00d" for i in range(1, 9)]

with tempfile.TemporaryDirectory() as _tmp:
    ENTRIES = hostile.all_entries(hostile.victim_bytes(Path(_tmp)))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    traces = tmp_path_factory.mktemp("good") / "traces"
    store_sample.record_as(GOOD, *[(traces, {"k": k}) for k in range(1, 9)])
    return traces


def _per_file(path: Path, root: Path):
    try:
        return inspect_file(path, root=root)
    except TraceError as e:
        return e


@pytest.mark.timeout(600)
def test_bulk_verdicts_match_the_per_file_ones(template, tmp_path):
    judged_entries = 0
    for i, entry in enumerate(ENTRIES):
        traces = tmp_path / f"t{i}"
        shutil.copytree(template, traces, symlinks=True)
        try:
            entry.build(traces, "01")
        except PermissionError:  # mknod of a device node needs root
            continue
        paths = parquet_files(traces)
        bulk = inspect_many(paths, traces)
        for path, verdict in bulk.items():
            careful = _per_file(path, traces)
            if isinstance(verdict, TraceError):
                assert isinstance(careful, TraceError), f"{entry.name}: {path} refused in bulk only: {verdict}"
            else:
                assert not isinstance(careful, TraceError), f"{entry.name}: {path} accepted in bulk only: {careful}"
                assert (verdict.schema_version, verdict.runs, verdict.num_rows, verdict.schema) == (
                    careful.schema_version, careful.runs, careful.num_rows, careful.schema
                ), f"{entry.name}: {path} read differently in bulk"
        if len(bulk) > len(GOOD):
            judged_entries += 1
        shutil.rmtree(traces)
    assert judged_entries >= len(ENTRIES) // 4, f"the bulk path judged the hostile file in only {judged_entries} cases"


def test_links_and_specials_are_left_to_the_careful_path(template, tmp_path):
    traces = tmp_path / "traces"
    shutil.copytree(template, traces, symlinks=True)
    outside = tmp_path / "outside.parquet"
    shutil.copy(next(traces.glob("date=*/run-*.parquet")), outside)
    link = traces / "date=2030-01-01" / "run-eeee00000000eeee.parquet"
    link.parent.mkdir()
    link.symlink_to(outside)
    linked_dir = traces / "date=2030-01-02"
    linked_dir.symlink_to(tmp_path)
    plain = plain_files(parquet_files(traces), traces)
    assert link not in plain and not any(p.parent == linked_dir for p in plain)
    assert len(plain) == len(GOOD)


def test_a_listing_of_many_runs_uses_the_bulk_path(template):
    listing = scan(template)
    assert {s.run_id for s in listing.runs} == set(GOOD) and not listing.problems
    assert all(f.checked_by_duckdb for f in listing.files)
