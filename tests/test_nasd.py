"""NASD: hand-computed stores on fixture sequences propose the expected tokens; the filler
and stop_if_unknown switches behave as documented; a recorded run carries order and source."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.engine.drafters import build_drafter, lookup, parse_drafter
from specviz.engine.drafters.nasd import NasdDrafter
from specviz.engine.errors import EngineError
from specviz.models.loading import register_model
from specviz.store import list_runs, read_events
from tiny_models import TinyTokenizer, tiny_model

# positions   0  1  2  3  4  5  6  7  8  9 10 11
FIXTURE = [5, 1, 2, 3, 1, 2, 3, 1, 2, 4, 9, 1]
# Store of nasd:3 (contexts of 2 and 1 tokens -> next token: count, latest position):
#   (1,) -> 2: 3 @8                 (1,2) -> 3: 2 @6, 4: 1 @9
#   (2,) -> 3: 2 @6, 4: 1 @9        (2,3) -> 1: 2 @7
#   (3,) -> 1: 2 @7                 (3,1) -> 2: 2 @8
#   (9,1) never continued, so the first draft backs off to (1,).


def drafted(draft):
    return [(t.id, t.ngram_n, t.source_pos, t.source) for t in draft.tokens]


def test_most_probable_continuation_with_backoff():
    d = NasdDrafter(3, stop_if_unknown=False)
    d.prefill(FIXTURE)
    assert drafted(d.propose(FIXTURE, 4)) == [(2, 2, 8, "ngram"), (3, 3, 6, "ngram"), (1, 3, 7, "ngram"), (2, 3, 8, "ngram")]
    # prompt lookup copies what followed the latest "1" instead: 2 4 9 1
    assert lookup(FIXTURE, 4, 3) == [2, 4, 9, 1]


def test_store_updates_with_every_generated_token():
    d = NasdDrafter(3)
    d.prefill(FIXTURE)
    grown = FIXTURE + [2, 4]  # (1,2) -> 4 now ties 3 at 2 counts; 4 is more recent
    assert [t.id for t in d.propose(grown + [1, 2], 1).tokens] == [4]


def test_unknown_context_guesses_the_most_frequent_token_or_stops():
    context = FIXTURE + [7]  # 7 never seen before: no context of it is known
    guess = NasdDrafter(3, stop_if_unknown=False)
    guess.prefill(FIXTURE)
    # unigram counts: 1 x4 (latest @11), 2 x3, 3 x2 -> 1; then (7,1) unknown, (1,) -> 2 ...
    assert drafted(guess.propose(context, 3)) == [(1, 1, 11, "unigram"), (2, 2, 8, "ngram"), (3, 3, 6, "ngram")]
    stop = NasdDrafter(3, stop_if_unknown=True)
    stop.prefill(FIXTURE)
    assert stop.propose(context, 3).tokens == []
    assert [t.id for t in stop.propose(FIXTURE, 3).tokens] == [2, 3, 1]  # known contexts still draft


def test_top_k_filler_counts_the_targets_preferences():
    prompt = [1, 6, 1]
    produced, top = [7, 1, 8, 1], [[5], [5], [5], [5]]  # sampled tokens; the target's top-1 was 5 each time
    plain = NasdDrafter(2, stop_if_unknown=True)
    filled = NasdDrafter(2, top_k_filler=1, stop_if_unknown=True)
    for d in (plain, filled):
        d.prefill(prompt)
        d.observe(prompt, produced, top)
    context = prompt + produced  # 1 6 1 7 1 8 1
    # plain: (1,) -> 6, 7, 8 once each, 8 latest @5; (8,) -> 1 @6; ...
    assert drafted(plain.propose(context, 3)) == [(8, 2, 5, "ngram"), (1, 2, 6, "ngram"), (8, 2, 5, "ngram")]
    # filled: (1,) -> 5 counted at positions 3 and 5 (the contexts ending in 1) beats 6/7/8 (once each);
    # (5,) was never a context, so the draft stops there
    assert drafted(filled.propose(context, 3)) == [(5, 2, None, "filler")]


@pytest.mark.parametrize("spec, text, stops", [
    ("nasd", "nasd:4", True), ("nasd:3+top_k_filler:5+stop_if_unknown", "nasd:3+top_k_filler:5+stop_if_unknown", True),
    ("nasd+stop_if_unknown:off", "nasd:4+stop_if_unknown:0", False),
])
def test_specs(spec, text, stops):
    d = parse_drafter(spec)
    assert d.text == text
    assert build_drafter(d, None).stop_if_unknown is stops


@pytest.mark.parametrize("spec", ["nasd:1", "nasd+top_k_filler:x", "nasd+stop_if_unknown:maybe", "nasd+foo"])
def test_bad_specs(spec):
    with pytest.raises(EngineError, match="bad drafter"):
        parse_drafter(spec)


def test_recorded_run_has_order_source_and_filler(tmp_path):
    register_model("tiny", tiny_model(10, seed=4, layers=3, scale=0.5), TinyTokenizer(10, eos=False), "tiny-llama")
    r = CliRunner().invoke(cli, ["--traces", str(tmp_path), "record", "abcabcabd", "--target", "mlx:tiny", "--drafter",
                                 "nasd:3+top_k_filler:3", "-k", "3", "--max-tokens", "24"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    (run,) = list_runs(tmp_path)
    events = read_events(tmp_path, run.run_id)
    assert events[0].drafter == "nasd:3+top_k_filler:3" and events[-1].status == "completed"
    drafts = [e for e in events if type(e).__name__ == "DraftToken"]
    assert drafts and all(d.draft_source in ("ngram", "filler", "unigram") for d in drafts)
    context = list(events[0].prompt_token_ids)
    for rnd in range(events[-1].rounds):
        for d in (d for d in drafts if d.round == rnd):
            assert 1 <= d.ngram_n <= 3
            if d.draft_source != "filler":
                assert context[d.source_pos] == d.token_id
        context += [e.token_id for e in events if type(e).__name__ == "Verify" and e.round == rnd and e.status != "rejected"]
