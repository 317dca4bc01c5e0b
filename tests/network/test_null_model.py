"""Degree binning and random set draws: the rules of the Guney et al. toolbox, checked by hand and by a loop."""

from __future__ import annotations

import numpy as np
import pytest

from organoidrx._utils import InputError
from organoidrx.network import degree_bins
from organoidrx.network._null import SetSampler


def _reference_bins(degree, min_bin_size):
    """The toolbox rule written as plainly as possible: a list of (low, high, sorted node list)."""
    by_degree = {}
    for node, d in enumerate(degree):
        by_degree.setdefault(int(d), []).append(node)
    values = sorted(by_degree)
    bins = []
    i = 0
    while i < len(values):
        low = values[i]
        members = list(by_degree[values[i]])
        while len(members) < min_bin_size and i + 1 < len(values):
            i += 1
            members += by_degree[values[i]]
        high = values[i]
        i += 1
        if len(members) < min_bin_size and bins:
            bins[-1] = (bins[-1][0], high, sorted(bins[-1][2] + members))
        else:
            bins.append((low, high, sorted(members)))
    return bins


def test_bins_by_hand():
    bins = degree_bins(np.array([1, 1, 1, 2, 2, 3, 5, 5, 8]), min_bin_size=3)
    assert bins.table() == [(1, 1, 3), (2, 3, 3), (5, 8, 3)]
    np.testing.assert_array_equal(bins.bin_of, [0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_short_last_bin_is_merged_into_the_previous_one():
    bins = degree_bins(np.array([1, 1, 1, 2, 2, 2, 3]), min_bin_size=3)
    assert bins.table() == [(1, 1, 3), (2, 3, 4)]
    assert bins.bin_of[6] == 1


def test_small_network_is_one_bin():
    bins = degree_bins(np.array([1, 2, 2, 4]), min_bin_size=100)
    assert bins.table() == [(1, 4, 4)]


@pytest.mark.parametrize("seed", range(5))
def test_bins_match_plain_reference(seed):
    rng = np.random.default_rng(seed)
    degree = np.minimum(rng.zipf(2.0, size=3000), 400)
    bins = degree_bins(degree, min_bin_size=100)
    reference = _reference_bins(degree, 100)
    assert bins.table() == [(lo, hi, len(m)) for lo, hi, m in reference]
    for b, (_, _, members) in enumerate(reference):
        np.testing.assert_array_equal(np.sort(bins.nodes[bins.start[b] : bins.start[b + 1]]), members)
    assert all(size >= 100 for size in bins.sizes)


def test_bad_bin_size():
    with pytest.raises(InputError, match="min_bin_size"):
        degree_bins(np.array([1, 2]), min_bin_size=0)


def test_draws_are_other_nodes_of_the_same_bin_without_repeats():
    degree = np.repeat([1, 2, 3, 4], [40, 30, 20, 10])
    bins = degree_bins(degree, min_bin_size=20)
    slot_nodes = np.array([0, 1, 2, 3, 45, 46, 95, 96, 97, 5, 50, 90])
    slot_group = np.array([0] * 9 + [1] * 3)
    sampler = SetSampler(bins, slot_nodes, slot_group, len(degree))
    for draw in range(300):
        nodes, repeat = sampler.sample(draw)
        assert not repeat.any()
        np.testing.assert_array_equal(bins.bin_of[nodes], bins.bin_of[slot_nodes])
        assert not np.any(nodes == slot_nodes)
        for g in (0, 1):
            members = nodes[slot_group == g]
            assert len(set(members.tolist())) == len(members)


def test_draws_are_uniform_over_the_other_nodes():
    degree = np.ones(101, dtype=int)
    bins = degree_bins(degree, min_bin_size=100)
    sampler = SetSampler(bins, np.array([7]), np.array([0]), 101, key=1)
    counts = np.bincount([sampler.sample(draw)[0][0] for draw in range(20000)], minlength=101)
    assert counts[7] == 0
    others = np.delete(counts, 7)
    # 200 expected per node; 6 binomial standard deviations
    assert others.min() > 200 - 6 * 14 and others.max() < 200 + 6 * 14


def test_set_larger_than_its_bin_stops_after_bounded_retries():
    degree = np.array([1, 1, 1, 1, 5, 5, 5])
    bins = degree_bins(degree, min_bin_size=3)
    assert bins.table() == [(1, 1, 4), (5, 5, 3)]
    slot_nodes = np.array([4, 5, 6])  # all of bin 1: each must avoid itself, so 3 slots share 2 choices
    sampler = SetSampler(bins, slot_nodes, np.zeros(3, dtype=int), len(degree))
    nodes, repeat = sampler.sample(0)
    assert set(nodes.tolist()) <= {4, 5, 6}
    assert len(set(nodes.tolist())) + int(repeat.sum()) == 3


def test_a_set_s_draws_depend_on_the_seed_the_set_and_the_draw_only():
    """Counter-based draws: other sets beside it, their order and the draw order change nothing."""
    degree = np.repeat([1, 2, 3, 4], [40, 30, 20, 10])
    bins = degree_bins(degree, min_bin_size=20)
    alone = SetSampler(bins, np.array([0, 45, 95]), np.zeros(3, dtype=int), len(degree), key=7)
    others = SetSampler(
        bins, np.array([5, 50, 90, 91, 0, 45, 95]), np.array([0, 0, 0, 0, 1, 1, 1]), len(degree), key=7
    )
    reseeded = SetSampler(bins, np.array([0, 45, 95]), np.zeros(3, dtype=int), len(degree), key=8)
    same = [np.array_equal(alone.sample(t)[0], others.sample(t)[0][4:]) for t in (5, 1, 300, 2)]
    assert all(same)
    assert not all(np.array_equal(alone.sample(t)[0], reseeded.sample(t)[0]) for t in range(20))
    # consecutive draws of one set are not the same draw repeated
    assert len({tuple(alone.sample(t)[0]) for t in range(50)}) > 40


def test_a_set_s_draws_do_not_depend_on_the_order_of_its_nodes():
    """Two slots of a set that draw the same node are settled in node order, not in the order the set's genes were
    listed: reversing a set gives, slot by slot, the same draws (40 nodes in bins of ~60: collisions are common)."""
    rng = np.random.default_rng(0)
    degree = rng.integers(1, 6, size=300)
    bins = degree_bins(degree, min_bin_size=50)
    members = rng.choice(300, size=40, replace=False)
    groups = np.r_[np.zeros(40, dtype=int), np.ones(3, dtype=int)]
    forward = SetSampler(bins, np.r_[members, [0, 1, 2]], groups, 300, key=12345)
    backward = SetSampler(bins, np.r_[members[::-1], [2, 1, 0]], groups, 300, key=12345)
    for t in range(200):
        drawn, repeat = forward.sample(t)
        again, repeat_again = backward.sample(t)
        np.testing.assert_array_equal(drawn[:40], again[:40][::-1])
        np.testing.assert_array_equal(drawn[40:], again[40:][::-1])
        np.testing.assert_array_equal(repeat, np.r_[repeat_again[:40][::-1], repeat_again[40:][::-1]])


def test_no_sets_draw_nothing():
    bins = degree_bins(np.repeat([1, 2], [30, 30]), min_bin_size=20)
    drawn, repeat = SetSampler(bins, np.array([], dtype=int), np.array([], dtype=int), 60, key=1).sample(0)
    assert drawn.shape == (0,) and repeat.shape == (0,)
