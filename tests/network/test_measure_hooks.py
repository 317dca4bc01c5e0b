"""The measure interface's optional hooks: prepare (state, replaced targets), null="targets", higher_is_closer."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from organoidrx import InputError, Method, Option, register
from organoidrx._registry import REGISTRIES
from organoidrx.network import Preparation, proximity
from organoidrx.network._measures import CLOSEST


def _inputs():
    graph = nx.barabasi_albert_graph(300, 2, seed=3)
    edges = pd.DataFrame([(f"g{u}", f"g{v}") for u, v in graph.edges()], columns=["gene_a", "gene_b"])
    rng = np.random.default_rng(1)
    sets = {
        f"s{i}": [f"g{j}" for j in rng.choice(300, size=rng.integers(3, 20), replace=False)] for i in range(6)
    }
    targets = pd.DataFrame({"drug": ["a", "a", "b"], "target": ["g0", "g5", "g200"]})
    return edges, targets, sets


def _run(measure, **kwargs):
    edges, targets, sets = _inputs()
    return proximity(
        edges,
        targets,
        sets,
        min_score=None,
        use_cache=False,
        n_random=100,
        min_bin_size=30,
        measure=measure,
        **kwargs,
    )


@pytest.fixture
def plugins():
    names = []

    def add(method):
        names.append(method.name)
        return register(method)

    yield add
    for name in names:
        REGISTRIES["measure"].unregister(name)


def _negated(view):
    num, den = CLOSEST.func(view)
    return -num, den


def test_higher_is_closer_turns_the_z_score(plugins):
    plugins(
        Method(
            kind="measure",
            name="minus_closest",
            summary="closest distance, negated",
            reference="test",
            func=_negated,
            deterministic=False,
            attrs={"higher_is_closer": True, "column": "minus_closest"},
        )
    )
    closest, negated = _run("closest"), _run("minus_closest")
    np.testing.assert_array_equal(negated["minus_closest"], -closest["closest_distance"])
    np.testing.assert_array_equal(negated["null_mean"], -closest["null_mean"])
    for column in ("null_sd", "z", "p_value", "proximal"):
        np.testing.assert_array_equal(negated[column], closest[column])


def test_prepare_state_replaced_targets_and_options(plugins):
    seen = {}

    def prepare(setup, *, scale):
        seen["scale"] = scale
        seen["n_columns"] = len(setup.target_sets)
        return Preparation(state=scale, target_sets=list(setup.target_sets), info={"scale": scale})

    def scaled(view):
        num, den = CLOSEST.func(view)
        return num * view.state, den * view.state

    plugins(
        Method(
            kind="measure",
            name="scaled_closest",
            summary="closest distance through a prepare hook",
            reference="test",
            func=scaled,
            options=(Option("scale", 1, int, "a factor that cancels", minimum=1),),
            deterministic=False,
            attrs={"prepare": prepare},
        )
    )
    closest, hooked = _run("closest"), _run("scaled_closest", scale=3)
    assert seen == {"scale": 3, "n_columns": 2}
    assert hooked.attrs["measure_options"] == {"scale": 3} and hooked.attrs["measure_info"] == {"scale": 3}
    np.testing.assert_allclose(hooked["scaled_closest_distance"], closest["closest_distance"], rtol=1e-15)
    np.testing.assert_array_equal(hooked["z"], closest["z"])
    with pytest.raises(
        InputError, match="measure 'scaled_closest' has no option 'sclae' \\(did you mean 'scale'"
    ):
        _run("scaled_closest", sclae=3)
    with pytest.raises(InputError, match="scale must be an integer >= 1; got 0"):
        _run("scaled_closest", scale=0)
    with pytest.raises(InputError, match="measure 'closest' has no option 'scale' \\(known: null\\)"):
        _run("closest", scale=3)


def test_null_of_targets_only_keeps_the_pathways(plugins):
    calls = []

    def spy(view):
        calls.append(view.genes.copy())
        return CLOSEST.func(view)

    plugins(
        Method(
            kind="measure",
            name="targets_only",
            summary="closest distance, random targets only",
            reference="test",
            func=spy,
            deterministic=False,
            attrs={"null": "targets"},
        )
    )
    table = _run("targets_only")
    assert len(calls) == 101 and all(np.array_equal(c, calls[0]) for c in calls)
    assert not np.array_equal(table["z"], _run("closest")["z"])
