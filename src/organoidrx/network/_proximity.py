"""Network proximity of gene sets to drug targets: closest distance and its degree-preserving z-score."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from organoidrx._compute import active_backend
from organoidrx._registry import Method, Option, get_method
from organoidrx._utils import InputError, check_random_state, examples
from organoidrx._validation import as_gene_set_dict, as_id, as_long_table, restrict_gene_sets
from organoidrx.io._drug_names import DrugNameResolver, drug_keys, match_drugs
from organoidrx.network._distances import _distance_matrix, check_memory
from organoidrx.network._graph import Interactome, build_interactome
from organoidrx.network._measures import DistanceView, MeasureSetup, Preparation, size_buckets
from organoidrx.network._null import SetSampler, degree_bins
from organoidrx.network._separation import separation_parts

logger = logging.getLogger(__name__)

__all__ = ["PROXIMAL_Z", "proximity"]

PROXIMAL_Z = -1.2816
"""z-score at or below which a pathway counts as drug-proximal (Kong et al.'s cut-off, the one-sided 10% normal
quantile; not a 10% error rate under the default null, see the measures' note in docs/methods.md)."""

_BLOCK = 25  # draws per task: results depend on neither n_jobs nor the blocks (counter-based draws)
_GENE_STREAM = 0x5DEECE66D  # sets the pathways' draws apart from the targets' (a set may hold the same nodes)
#: target slots x gene slots measured at once: drugs are measured in ranges within it (bounds one draw's memory)
_CELLS = 1 << 25

Progress = Callable[[str, int, int], None]

COLUMNS = [
    "drug",
    "pathway",
    "n_targets",
    "n_targets_missing",
    "n_pathway_genes",
    "n_pathway_genes_missing",
    "closest_distance",
    "shortest_distance",
    "separation",
    "null_mean",
    "null_sd",
    "z",
    "p_value",
    "proximal",
    "computable",
    "note",
]


@dataclass
class _Problem:
    """Everything the kernel needs, as index arrays into the distance matrix."""

    dist: np.ndarray  # (n, n) uint8
    target_slots: np.ndarray  # node of each (drug, target) slot, drugs contiguous
    target_drug: np.ndarray  # drug (column) of each slot
    drug_start: np.ndarray  # offsets of the drugs in target_slots
    gene_slots: np.ndarray  # node of each (pathway, gene) slot, pathways contiguous
    gene_pathway: np.ndarray  # pathway (row) of each slot
    pathway_start: np.ndarray  # offsets of the pathways in gene_slots
    pathway_size: np.ndarray
    buckets: list[tuple[np.ndarray, np.ndarray]]  # (pathway rows, padded gene slots (width, rows)) by size
    adjacency: tuple[np.ndarray, np.ndarray] | None = None  # the graph's (indptr, indices)


def _view(
    problem: _Problem,
    targets: np.ndarray,
    target_repeat: np.ndarray | None,
    genes: np.ndarray,
    gene_repeat: np.ndarray | None,
    state: Any = None,
    memo: dict[str, Any] | None = None,
) -> DistanceView:
    """The measures' view of one draw; nodes repeated within a random set (``*_repeat``) get weight 0."""
    return DistanceView(
        dist=problem.dist,
        targets=targets,
        genes=genes,
        target_weight=np.ones(len(targets), dtype=np.int64)
        if target_repeat is None
        else (~target_repeat).astype(np.int64),
        gene_weight=np.ones(len(genes), dtype=np.int64)
        if gene_repeat is None
        else (~gene_repeat).astype(np.int64),
        drug_start=problem.drug_start,
        pathway_start=problem.pathway_start,
        buckets=problem.buckets,
        state=state,
        adjacency=problem.adjacency,
        memo=memo,
    )


def _measure(
    problem: _Problem,
    targets: np.ndarray,
    target_repeat: np.ndarray | None,
    genes: np.ndarray,
    gene_repeat: np.ndarray | None,
    measure: Method,
    state: Any = None,
    memo: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of the registered ``measure`` for every pathway x drug.

    A measure whose larger values mean closer (``higher_is_closer``) gets its numerator negated here, so that the
    null's lower tail is always the "closer than chance" side.
    """
    view = _view(problem, targets, target_repeat, genes, gene_repeat, state, memo)
    num, den = measure.func(view)
    shape = view.shape
    if np.shape(num) != shape or np.shape(den) not in (shape, (shape[1],), ()):
        raise RuntimeError(
            f"measure {measure.name!r} returned shapes {np.shape(num)}, {np.shape(den)}; expected {shape}."
        )
    if measure.attrs.get("higher_is_closer", False):
        return -np.asarray(num), np.asarray(den)
    return np.asarray(num), np.asarray(den)


def _null_blocks(
    problem: _Problem,
    bins: Any,
    stream: int,
    starts: list[int],
    block_sizes: list[int],
    observed: tuple[np.ndarray, np.ndarray],
    measure: Method,
    on_block: Callable[[], None],
    state: Any = None,
    chunks: list[tuple[int, int]] | None = None,
) -> list[tuple[np.ndarray, ...]]:
    """Run some blocks of random draws; return per-block sums of deviations, squares, lower-tail counts, min, max.

    Block ``i`` makes draws ``starts[i]`` to ``starts[i] + block_sizes[i] - 1`` of the counter-based stream
    ``stream`` (:class:`SetSampler`).

    With the measure's ``null = "targets"`` only the targets are drawn; the pathways keep their genes. The drug
    columns are measured in ``chunks`` (ranges a..b-1; default one chunk of all), which bounds the memory of one
    draw; every column's targets are drawn in each draw, so a column's numbers do not depend on the chunks.
    """
    n_nodes = problem.dist.shape[0]
    target_sampler = SetSampler(bins, problem.target_slots, problem.target_drug, n_nodes, key=stream)
    draw_genes = measure.attrs.get("null", "both") != "targets"
    gene_sampler = (
        SetSampler(bins, problem.gene_slots, problem.gene_pathway, n_nodes, key=stream ^ _GENE_STREAM)
        if draw_genes
        else None
    )
    end = np.append(problem.drug_start, len(problem.target_slots))
    parts = []
    for a, b in chunks or [(0, len(problem.drug_start))]:
        obs_num, obs_den = _cols(observed[0], a, b), _cols(observed[1], a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            obs = obs_num / obs_den
        obs_max = (_largest(np.asarray(obs_num)), _largest(np.asarray(obs_den)))
        parts.append(
            (slice(int(end[a]), int(end[b])), _columns(problem, a, b), obs_num, obs_den, obs, obs_max)
        )
    out: list[tuple[np.ndarray, ...]] = []
    fixed_genes: dict[str, Any] = {}
    for first_draw, size in zip(starts, block_sizes, strict=True):
        sums = []
        for *_, obs, _ in parts:
            shape = obs.shape
            sums.append(
                (np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=np.int64), np.full(shape, np.inf),
                 np.full(shape, -np.inf))
            )  # fmt: skip
        for draw in range(first_draw, first_draw + size):
            all_targets, all_repeat = target_sampler.sample(draw)
            if gene_sampler is not None:
                genes, gene_repeat = gene_sampler.sample(draw)
                memo: dict[str, Any] = {}  # the ranges of one draw share its genes
            else:
                genes, gene_repeat = problem.gene_slots, None
                memo = fixed_genes  # the pathways' own genes in every draw
            for (slots, part, obs_num, obs_den, obs, obs_max), (s1, s2, n_le, lo, hi) in zip(
                parts, sums, strict=True
            ):
                targets, target_repeat = all_targets[slots], all_repeat[slots]
                num, den = _measure(part, targets, target_repeat, genes, gene_repeat, measure, state, memo)
                with np.errstate(divide="ignore", invalid="ignore"):
                    value = num / den
                dev = value - obs
                s1 += dev
                s2 += dev * dev
                n_le += _at_most(num, den, obs_num, obs_den, obs_max)
                np.minimum(lo, value, out=lo)
                np.maximum(hi, value, out=hi)
        out.append(tuple(np.concatenate(k, axis=1) for k in zip(*sums, strict=True)))
        on_block()
    return out


#: integer cross products below this cannot overflow int64
_EXACT_PRODUCTS = 2.0**62
#: relative difference of float parts counted as a tie (rounding of sums, not a closer draw)
_FLOAT_TIE = 1e-12


def _at_most(
    num: np.ndarray, den: np.ndarray, obs_num: Any, obs_den: Any, obs_max: tuple[float, float] | None = None
) -> np.ndarray:
    """``num / den <= obs_num / obs_den`` compared as ``num * obs_den <= obs_num * den``.

    Exact for the integer parts of the distance measures, whose ties are common; where an int64 product could
    overflow (separation of two sets of about a thousand nodes) the floats decide and near ties are settled in
    Python integers. Float parts (a walk's scores: the same set summed in another order differs in its last
    bits) within ``_FLOAT_TIE`` count as ties. ``obs_max``: the largest ``|obs_num|`` and ``|obs_den|``, when
    known.
    """
    if num.dtype.kind not in "iu":
        left, right = num * obs_den, obs_num * den
        return left <= right + _FLOAT_TIE * np.abs(right)
    obs_num, obs_den = np.asarray(obs_num), np.asarray(obs_den)
    top_num, top_den = obs_max or (_largest(obs_num), _largest(obs_den))
    largest = max(_largest(num) * top_den, top_num * _largest(den))
    if largest < _EXACT_PRODUCTS:
        return num * obs_den <= obs_num * den
    num, den, obs_num, obs_den = np.broadcast_arrays(num, den, obs_num, obs_den)
    left, right = num * obs_den.astype(float), obs_num * den.astype(float)
    result = left <= right
    unsure = ~(np.abs(left - right) > 1e-9 * np.maximum(np.abs(left), np.abs(right)))  # near ties and NaN
    for i in zip(*np.nonzero(unsure), strict=True):
        result[i] = int(num[i]) * int(obs_den[i]) <= int(obs_num[i]) * int(den[i])
    return result


def _largest(values: np.ndarray) -> float:
    """max |values| (0 for none), without a temporary of the absolute values."""
    return max(float(values.max(initial=0)), -float(values.min(initial=0)))


def _cols(values: Any, a: int, b: int) -> Any:
    """Drug columns a..b-1 of a (pathways, drugs) array, a (drugs,) array or a scalar."""
    values = np.asarray(values)
    return values[:, a:b] if values.ndim == 2 else values[a:b] if values.ndim == 1 else values


def _drug_ranges(problem: _Problem) -> list[tuple[int, int]]:
    """Consecutive drug columns whose target slots x gene slots stay within ``_CELLS`` (at least one drug)."""
    max_cells = _CELLS
    sizes = np.diff(np.append(problem.drug_start, len(problem.target_slots)))
    per_slot = max(len(problem.gene_slots), len(problem.pathway_start), 1)
    ranges, start, cells = [], 0, 0
    for j, size in enumerate(sizes.tolist()):
        if j > start and cells + size * per_slot > max_cells:
            ranges.append((start, j))
            start, cells = j, 0
        cells += size * per_slot
    ranges.append((start, len(sizes)))
    return ranges


def _in_ranges(compute: Callable[[_Problem], Any], problem: _Problem, ranges: list[tuple[int, int]]) -> Any:
    """``compute`` of each range of drug columns, joined column-wise (a tuple or dict of arrays, or an array)."""
    if len(ranges) == 1 and ranges[0] == (0, len(problem.drug_start)):
        return compute(problem)
    return _join_columns([compute(_columns(problem, a, b)) for a, b in ranges])


def _join_columns(parts: list[Any]) -> Any:
    """Results of consecutive ranges of drug columns joined column-wise (scalars are shared, not joined)."""
    if len(parts) == 1:
        return parts[0]

    def join(values: list[Any]) -> Any:
        first = np.asarray(values[0])
        if first.ndim == 0:
            return first
        return np.concatenate([np.asarray(v) for v in values], axis=first.ndim - 1)

    if isinstance(parts[0], dict):
        return {key: join([p[key] for p in parts]) for key in parts[0]}
    if isinstance(parts[0], tuple):
        return tuple(join(list(k)) for k in zip(*parts, strict=True))
    return join(parts)


#: Random draws of the null: the one definition (the config and the CLI take it from here). A million draws of
#: one drug x 3,000 sets take hours on one core; more is never needed for p-values down to 1e-6.
#: fewer null draws than this get a warning: their z-scores are noise
_FEW_DRAWS = 20

N_RANDOM = Option("n_random", 1000, int, "random draws of the proximity null", minimum=1, maximum=10**6)


def _absent_reason(names: Sequence[str], outside: frozenset[str], what: str, table: str) -> str:
    """Why a drug (``what="target"``) or pathway (``what="pathway gene"``) has no node in the largest component.

    Its names may be absent from the network, in a smaller component of it, or a mix of both; a mix says how many
    of each, so that a name in a small component is never reported as missing from the network.
    """
    if not names:
        return f"no {what} listed in {table}"
    n_off = sum(1 for g in names if g in outside)
    if n_off == len(names):
        return f"{what}s only outside the network's largest connected component"
    if n_off:
        return (
            f"no {what} in the network's largest connected component ({n_off} in a smaller component, "
            f"{len(names) - n_off} not in the network)"
        )
    return f"no {what} in the network"


def _resolve_drugs(
    table: pd.DataFrame, drugs: Sequence[str] | None, name: str
) -> tuple[list[str], dict[str, list[str]]]:
    """Drug order and their listed targets; requested names match exactly, else by the drug-name tables."""
    listed: dict[str, list[str]] = {}
    for drug, target in zip(table["drug"].astype(str), table["target"], strict=True):
        genes = listed.setdefault(drug, [])
        gene = as_id(target)
        if gene and gene not in genes:
            genes.append(gene)
    if drugs is None:
        return list(listed), listed
    if isinstance(drugs, str):
        raise InputError(f"drugs must be a list of names; got the single string {drugs!r}.")
    requested = list(dict.fromkeys(str(d) for d in drugs))
    loose = [d for d in requested if d not in listed]
    matched: dict[str, str] = {}
    if loose:  # any spelling the drug-name tables know ('5-FU' for FLUOROURACIL), as in a run
        resolver = DrugNameResolver()
        matched = match_drugs(
            dict(drug_keys(resolver, loose)), listed, resolver, where=name, what="the requested drugs"
        )
    order = [matched.get(d, d) for d in requested]
    return list(dict.fromkeys(order)), listed


def proximity(
    network: pd.DataFrame | Interactome,
    targets: pd.DataFrame,
    gene_sets: pd.DataFrame | dict[str, list[str]],
    *,
    drugs: Sequence[str] | None = None,
    n_random: int = 1000,
    random_state: int | np.random.Generator | None = 0,
    min_score: float | None = 700.0,
    min_bin_size: int = 100,
    measure: str = "closest",
    distances: np.ndarray | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    max_memory: int | None = None,
    n_jobs: int = 1,
    progress: Progress | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Network proximity of every gene set to every drug's targets, with degree-preserving z-scores.

    Parameters
    ----------
    network : DataFrame of shape (n_edges, 3) or Interactome
        Long edge table ``gene_a, gene_b, score`` (from :func:`organoidrx.io.read_network`) or a graph already
        built by :func:`build_interactome`. Only the largest connected component after the threshold is used.
    targets : DataFrame of shape (n_pairs, 2)
        Long table ``drug, target`` (gene symbols, as from :func:`organoidrx.io.read_drug_targets`).
    gene_sets : DataFrame of shape (n_memberships, 2) or dict
        Long table ``pathway, gene`` (from :func:`organoidrx.io.read_gmt`) or ``{pathway: [genes]}``.
    drugs : sequence of str, optional
        Drugs to score, in this order; default every drug of ``targets``. Names match exactly, else by any spelling
        the drug-name tables know (``'5-FU'`` for FLUOROURACIL; rows carry the targets table's spelling).
        A requested drug without targets in the network still gets its rows, marked not computable.
    n_random : int, default 1000
        Number of random draws of the null distribution.
    random_state : int or Generator, default 0
        Seed; the same inputs and seed give identical tables whatever ``n_jobs``. The draws are counter-based
        (a node set's draw ``t`` is a hash of the seed, the set and ``t``), so a drug's rows are the same whichever
        other drugs and pathways are measured with it. z carries a Monte Carlo error of about
        ``sqrt((1 + z**2 / 2) / n_random)`` (0.04 at z = -1.28 with 1,000 draws): pathways within a few of those
        of the -1.2816 cut-off can change sides with the seed.
    min_score : float or None, default 700
        Keep edges with ``score > min_score`` (ignored when ``network`` is an :class:`Interactome`).
    min_bin_size : int, default 100
        Smallest number of nodes in a degree bin of the null model.
    measure : str, default "closest"
        Registered network measure whose z-score and p-value are reported (``organoidrx methods`` lists them:
        ``"closest"``, ``"shortest"``, ...). The observed closest, shortest and separation values are always
        reported (on the drugs' own targets); another measure's observed value gets its own column (the record's
        ``attrs["column"]``, else ``<name>_distance``) after ``separation``.
    distances : ndarray of shape (n_nodes, n_nodes), optional
        Precomputed :func:`shortest_path_lengths` of the interactome (skips the cache).
    cache_dir : path, optional
        Folder of the distance cache (default ``$XDG_CACHE_HOME/organoidrx``); see :func:`shortest_path_lengths`.
    use_cache : bool, default True
        Read and write the distance cache.
    max_memory : int, optional
        Byte budget; default the memory available. The call refuses with :class:`InputError` beyond it.
    n_jobs : int, default 1
        Threads for the random draws.
    progress : callable, optional
        Called as ``progress(phase, done, total)`` with phase ``"distances"`` or ``"null"``.
    **options
        Options of the measure (validated against its registry entry; ``organoidrx methods`` lists them).

    Returns
    -------
    DataFrame
        One row per drug x pathway (drugs in request order, pathways in input order) with columns
        ``drug, pathway, n_targets, n_targets_missing, n_pathway_genes, n_pathway_genes_missing,
        closest_distance, shortest_distance, separation, null_mean, null_sd, z, p_value, proximal, computable,
        note``. ``null_mean``, ``null_sd``, ``z`` and ``p_value`` refer to ``measure``; ``proximal`` is
        ``z <= -1.2816``. For every measure a negative z means closer than chance: for a measure whose larger
        values mean closer (``higher_is_closer``), z = (null mean - value) / sd and the p-value is the upper tail.
        ``z`` and ``p_value`` are NaN where the measure is undefined (e.g. separation of a set of one node);
        such rows stay computable and their ``note`` says why.
        Rows of a drug with no target in the network (or a pathway with no gene in it) have
        ``computable=False``, missing values and a ``note``. ``attrs`` holds ``timings`` (seconds per phase),
        ``distances_cached``, ``network`` (build summary), ``degree_bins``, ``measure``, ``measure_options``
        and, for measures with a prepare hook, ``measure_info``.

    Raises
    ------
    InputError
        On malformed tables, ``n_random`` outside 1..1,000,000, an unknown or invalid measure option, or a
        network whose distance matrix does not fit in memory.

    Notes
    -----
    On the largest connected component G of the network, with d(u, v) the number of edges on a shortest path:

    - closest distance (Guney et al. 2016): d_c(T, S) = (1/|T|) sum_{t in T} min_{s in S} d(t, s)
    - shortest distance: d_s(T, S) = (1/(|T||S|)) sum_{t in T} sum_{s in S} d(t, s)
    - separation (Menche et al. 2015): s_TS = d_TS - (d_TT + d_SS)/2, where d_TT is the mean over t of its
      distance to the nearest other member of T and d_TS = (sum_t min_s d(t, s) + sum_s min_t d(s, t)) /
      (|T| + |S|); undefined (NaN) for sets of one node. ``measure="separation"`` draws its null (see
      :func:`organoidrx.network._separation.separation_parts`).

    Null model, the rules of the Guney et al. toolbox: nodes are binned by degree (consecutive degrees, inclusive
    bounds, merged until a bin holds ``min_bin_size`` nodes, a short last bin merged into the previous one; see
    :func:`degree_bins`). In each of ``n_random`` draws, every target and every pathway gene is replaced by a
    uniformly chosen *other* node of its bin; a node already taken by the same random set is redrawn up to 20
    times, after which the repeat is kept and counts once. Targets and genes are drawn independently. With m and
    sd the mean and population standard deviation of the null values, z = (d - m) / sd (z = 0 when sd = 0, with a
    note), and the one-sided empirical p-value is p = (1 + #{null <= d}) / (1 + n_random) (Phipson & Smyth 2010).

    References
    ----------
    Guney E., Menche J., Vidal M., Barabási A.-L. (2016). Network-based in silico drug efficacy screening.
    Nat Commun 7:10331. doi:10.1038/ncomms10331

    Menche J. et al. (2015). Uncovering disease-disease relationships through the incomplete interactome.
    Science 347:1257601. doi:10.1126/science.1257601

    Kong J. et al. (2020). Network-based machine learning in colorectal and bladder organoid models predicts
    anti-cancer drug efficacy in patients. Nat Commun 11:5485. doi:10.1038/s41467-020-19313-8

    Phipson B., Smyth G. K. (2010). Permutation p-values should never be zero. Stat Appl Genet Mol Biol 9:39.
    doi:10.2202/1544-6115.1585

    Examples
    --------
    >>> import pandas as pd
    >>> edges = pd.DataFrame({"gene_a": ["A", "B", "C"], "gene_b": ["B", "C", "D"]})
    >>> targets = pd.DataFrame({"drug": ["x"], "target": ["A"]})
    >>> table = proximity(edges, targets, {"p": ["C", "D"]}, min_score=None, n_random=10, use_cache=False)
    >>> float(table.loc[0, "closest_distance"])
    2.0
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    N_RANDOM.validate(int(n_random) if isinstance(n_random, np.integer) else n_random)
    method = get_method("measure", measure)
    measure_options = method.resolve(options)
    if "null" in measure_options:  # a measure whose null the user chooses (NULL_OPTION)
        method = dataclasses.replace(method, attrs={**method.attrs, "null": measure_options["null"]})
    if n_jobs < 1:
        raise InputError(f"n_jobs must be at least 1; got {n_jobs}.")
    rng = check_random_state(random_state)
    target_table = as_long_table(targets, ["drug", "target"], name="targets")
    sets = as_gene_set_dict(gene_sets)

    tic = time.perf_counter()
    if isinstance(network, Interactome):
        network.check()
    graph = network if isinstance(network, Interactome) else build_interactome(network, min_score=min_score)
    timings["network"] = time.perf_counter() - tic
    node_index = graph.index()
    n_nodes = graph.n_nodes

    source = targets.attrs.get("source") if isinstance(targets, pd.DataFrame) else None
    order, listed = _resolve_drugs(target_table, drugs, Path(source).name if source else "the targets table")
    drug_nodes: dict[str, list[int]] = {}
    drug_missing: dict[str, int] = {}
    outside: list[str] = []
    for drug in order:
        genes = listed.get(drug, [])
        nodes = [node_index[g] for g in genes if g in node_index]
        drug_nodes[drug] = nodes
        drug_missing[drug] = len(genes) - len(nodes)
        outside.extend(g for g in genes if g not in node_index)
    if outside:
        logger.warning(
            "%d drug targets are not in the network's largest connected component and are ignored: %s",
            len(set(outside)),
            examples(sorted(set(outside))),
        )
    drug_reason = {
        d: _absent_reason(listed.get(d, []), graph.outside, "target", "the targets table")
        for d in order
        if not drug_nodes[d]
    }
    listed_targets = sorted({t for d in order for t in listed.get(d, [])})
    if order and listed_targets and not any(drug_nodes[d] for d in order):
        where = Path(source).name if source else "the targets table"
        in_small = [t for t in listed_targets if t in graph.outside]
        if in_small:
            raise InputError(
                f"{where}: none of the {len(order)} drugs has a target in the network's largest connected "
                f"component; {len(in_small)} of their {len(listed_targets)} targets are in smaller components "
                f"({examples(in_small)}), which proximity leaves out; use a denser network (a lower score "
                "threshold) or drugs with targets in the main component."
            )
        raise InputError(
            f"{where}: none of the {len(order)} drugs has a target in the network "
            f"(targets {examples(listed_targets)}; network nodes {examples([str(n) for n in graph.nodes[:3]])}); "
            "the two tables may name genes differently: map both to the same identifiers (e.g. gene symbols)."
        )
    for drug, reason in drug_reason.items():
        logger.warning(
            "drug %r has %s (targets listed: %s); it cannot be scored and its rows are marked not computable",
            drug,
            reason,
            examples(listed.get(drug, [])) or "none",
        )
    gmt = getattr(gene_sets, "attrs", {}).get("source")
    kept, _ = restrict_gene_sets(
        sets, node_index, min_size=1, where="the network", name=Path(gmt).name if gmt else "gene_sets"
    )
    pathways = list(sets)
    n_missing_genes = {p: len(sets[p]) - len(kept.get(p, [])) for p in pathways}
    path_reason = {
        p: _absent_reason(sets[p], graph.outside, "pathway gene", "the gene sets")
        for p in pathways
        if p not in kept
    }
    if path_reason:
        logger.warning(
            "%d gene sets have no gene in the network's largest connected component; their rows are marked not "
            "computable: %s",
            len(path_reason),
            examples([f"{p} ({reason})" for p, reason in path_reason.items()]),
        )

    live_drugs = [d for d in order if drug_nodes[d]]
    live_paths = [p for p in pathways if p in kept]
    bins = degree_bins(graph.degree, min_bin_size=min_bin_size)
    stats: dict[str, np.ndarray] = {}
    measure_info: dict[str, Any] = {}
    distances_cached = distances is not None
    if live_drugs and live_paths:
        gene_lists = [[node_index[g] for g in kept[p]] for p in live_paths]
        sizes = np.array([len(g) for g in gene_lists], dtype=np.int64)
        extra = (len(live_paths) + len(live_drugs)) * n_nodes * 5 * n_jobs + int(sizes.sum()) * 64 * 8
        if distances is None:
            check_memory(n_nodes, extra_bytes=extra, max_memory=max_memory)
            tic = time.perf_counter()
            distances, distances_cached = _distance_matrix(
                graph,
                cache_dir=cache_dir,
                use_cache=use_cache,
                max_memory=max_memory,
                progress=None if progress is None else (lambda d, t: progress("distances", d, t)),
            )
            timings["distances"] = time.perf_counter() - tic
        else:
            distances = np.asarray(distances)
            if distances.shape != (n_nodes, n_nodes):
                raise InputError(
                    f"distances has shape {distances.shape}; the network's largest component has {n_nodes} nodes."
                )
            timings["distances"] = 0.0
        # drugs with the same target set share one column (and so one null): same input, same z
        units: dict[tuple[int, ...], int] = {}
        drug_unit = {d: units.setdefault(tuple(sorted(drug_nodes[d])), len(units)) for d in live_drugs}
        unit_sets = list(units)
        unit_sizes = np.array([len(u) for u in unit_sets], dtype=np.int64)
        pathway_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        problem = _Problem(
            dist=distances,
            target_slots=np.array([n for u in unit_sets for n in u], dtype=np.int64),
            target_drug=np.repeat(np.arange(len(unit_sets)), unit_sizes),
            drug_start=np.concatenate([[0], np.cumsum(unit_sizes)[:-1]]).astype(np.int64),
            gene_slots=np.concatenate([np.asarray(g, dtype=np.int64) for g in gene_lists]),
            gene_pathway=np.repeat(np.arange(len(live_paths)), sizes),
            pathway_start=pathway_start,
            pathway_size=sizes,
            buckets=size_buckets(sizes, pathway_start),
            adjacency=(graph.indptr, graph.indices),
        )
        measured = problem
        state: Any = None
        prepare = method.attrs.get("prepare")
        if prepare is not None:
            tic = time.perf_counter()
            setup = MeasureSetup(
                graph=graph,
                dist=distances,
                target_sets=[np.asarray(u, dtype=np.int64) for u in unit_sets],
                genes=problem.gene_slots,
                pathway_start=problem.pathway_start,
                n_jobs=n_jobs,
            )
            prepared: Preparation = prepare(
                setup, **{k: v for k, v in measure_options.items() if k != "null"}
            )
            state, measure_info = prepared.state, dict(prepared.info)
            if prepared.target_sets is not None:
                measured = _with_targets(problem, prepared.target_sets)
            timings["prepare"] = time.perf_counter() - tic
        tic = time.perf_counter()
        backend = active_backend()
        ranges, measured_ranges = _drug_ranges(problem), _drug_ranges(measured)
        if backend is not None and max(len(ranges), len(measured_ranges)) > 1:  # large: spans on the workers
            spans = _drug_chunks(len(problem.drug_start), 1, max(backend.n_workers // 2, 1))
            span_tasks = [(span, _within(ranges, span), _within(measured_ranges, span)) for span in spans]
            spans_done = backend.map(_observed_task, span_tasks, shared=(problem, measured, method, state))
            stats = _join_columns([done[0] for done in spans_done])
            observed = _join_columns([done[1] for done in spans_done])
        else:
            stats, observed = _observed_values(problem, measured, method, state, ranges, measured_ranges)
        sign = -1.0 if method.attrs.get("higher_is_closer", False) else 1.0
        column = method.attrs.get("column", f"{method.name}_distance")
        if column not in stats:
            with np.errstate(divide="ignore", invalid="ignore"):
                stats[column] = sign * (observed[0] / observed[1])
        timings["observed"] = time.perf_counter() - tic

        tic = time.perf_counter()
        if n_random < _FEW_DRAWS:  # said once the inputs are known good, beside the work it is about
            logger.warning(
                "n_random = %d: a z-score rests on the standard deviation of only %d random draws and the "
                "smallest p is %.2g, so 'proximal' (z <= %g) means little; use at least 100 (Kong et al. use "
                "1,000)",
                n_random,
                n_random,
                1 / (1 + n_random),
                PROXIMAL_Z,
            )
        n_blocks = math.ceil(n_random / _BLOCK)
        block_sizes = [min(_BLOCK, n_random - i * _BLOCK) for i in range(n_blocks)]
        stream = int(rng.integers(2**63))  # counter-based draws (SetSampler)
        starts = [i * _BLOCK for i in range(n_blocks)]  # block i holds draws i * _BLOCK onwards
        done = [0]

        def on_block() -> None:
            done[0] += 1
            if progress is not None:
                progress("null", min(done[0] * _BLOCK, n_random), n_random)

        if backend is not None:
            shared = (measured, bins, stream, observed, method, state)
            chunks = _drug_chunks(len(measured.drug_start), n_blocks, backend.n_workers)
            tasks = [
                (start, size, c) for start, size in zip(starts, block_sizes, strict=True) for c in chunks
            ]
            arriving = backend.imap(_null_task, tasks, shared=shared)
            s1, s2, n_le, lo, hi = _fold_in_order(arriving, n_blocks, on_block, n_chunks=len(chunks))
        else:
            ranges = _drug_ranges(measured)
            workers = min(n_jobs, n_blocks)
            parts = [list(range(n_blocks))[w::workers] for w in range(workers)]
            if workers == 1:
                results = [
                    _null_blocks(
                        measured, bins, stream, starts, block_sizes, observed, method, on_block, state, ranges
                    )
                ]
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    futures = [
                        pool.submit(
                            _null_blocks,
                            measured,
                            bins,
                            stream,
                            [starts[i] for i in part],
                            [block_sizes[i] for i in part],
                            observed,
                            method,
                            on_block,
                            state,
                            ranges,
                        )
                        for part in parts
                    ]
                    results = [f.result() for f in futures]
            by_block: dict[int, tuple[np.ndarray, ...]] = {}
            for part, result in zip(parts, results, strict=True):
                by_block.update(zip(part, result, strict=True))
            s1, s2, n_le, lo, hi = _fold_in_order(((i, by_block[i]) for i in range(n_blocks)), n_blocks)
        with np.errstate(divide="ignore", invalid="ignore"):
            obs = observed[0] / observed[1]
        mean_dev = s1 / n_random
        sd = np.sqrt(np.maximum(s2 / n_random - mean_dev**2, 0.0))
        sd[lo == hi] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sd > 0, -mean_dev / np.where(sd > 0, sd, 1.0), 0.0)
        p_value = (1.0 + n_le) / (1.0 + n_random)
        undefined = np.isnan(obs) | np.isnan(mean_dev)
        if undefined.any():  # a measure undefined on these sets (e.g. separation of one node): no z, no p
            z[undefined] = np.nan
            p_value[undefined] = np.nan
        null_mean = obs + mean_dev
        stats.update(null_mean=null_mean if sign > 0 else -null_mean, null_sd=sd, z=z, p_value=p_value)
        stats["undefined"] = undefined
        timings["null"] = time.perf_counter() - tic
        drug_col = drug_unit
        path_row = {p: i for i, p in enumerate(live_paths)}
    else:
        drug_col, path_row = {}, {}

    n_d, n_p = len(order), len(pathways)
    col = np.array([drug_col.get(d, -1) for d in order], dtype=np.int64).repeat(n_p)
    row = np.tile(np.array([path_row.get(p, -1) for p in pathways], dtype=np.int64), n_d)
    ok = (col >= 0) & (row >= 0)
    drug_notes = np.array(
        [drug_reason.get(d, "no target in the network") if d not in drug_col else "" for d in order],
        dtype=object,
    ).repeat(n_p)
    note = np.tile(np.array([path_reason.get(p, "") for p in pathways], dtype=object), n_d)
    note = np.where(drug_notes != "", drug_notes, note)
    data: dict[str, Any] = {
        "drug": np.array(order, dtype=object).repeat(n_p),
        "pathway": np.tile(np.array(pathways, dtype=object), n_d),
        "n_targets": np.array([len(drug_nodes[d]) for d in order], dtype=np.int64).repeat(n_p),
        "n_targets_missing": np.array([drug_missing[d] for d in order], dtype=np.int64).repeat(n_p),
        "n_pathway_genes": np.tile(np.array([len(kept.get(p, [])) for p in pathways], dtype=np.int64), n_d),
        "n_pathway_genes_missing": np.tile(
            np.array([n_missing_genes[p] for p in pathways], dtype=np.int64), n_d
        ),
    }
    for key in (
        "closest_distance",
        "shortest_distance",
        "separation",
        "null_mean",
        "null_sd",
        "z",
        "p_value",
    ):
        values = np.full(n_d * n_p, np.nan)
        if key in stats:
            values[ok] = stats[key][row[ok], col[ok]]
        data[key] = values
    column = method.attrs.get("column", f"{method.name}_distance")
    columns = COLUMNS if column in COLUMNS else [*COLUMNS[:9], column, *COLUMNS[9:]]
    if column not in data:
        values = np.full(n_d * n_p, np.nan)
        if column in stats:
            values[ok] = stats[column][row[ok], col[ok]]
        data[column] = values
    data["computable"] = ok
    data["note"] = np.where(ok, "", note)
    if "undefined" in stats:
        undefined_rows = np.zeros(n_d * n_p, dtype=bool)
        undefined_rows[ok] = stats["undefined"][row[ok], col[ok]]
        reason = method.attrs.get("undefined", f"measure {measure!r} is undefined for these sets")
        data["note"] = np.where(undefined_rows, reason, data["note"])
    degenerate = ok & (data["null_sd"] == 0) & (data["note"] == "")
    data["note"] = np.where(
        degenerate,
        "every random draw gave the same value (a degenerate null, e.g. a tiny network): z = 0 by convention",
        data["note"],
    )
    table = pd.DataFrame(data).reindex(columns=columns)
    table["proximal"] = (table["z"] <= PROXIMAL_Z) & table["computable"]
    table["computable"] = table["computable"].astype(bool)
    timings["total"] = time.perf_counter() - started
    table.attrs.update(
        timings=timings,
        distances_cached=bool(distances_cached),
        network=dict(graph.summary),
        degree_bins=bins.table(),
        measure=measure,
        measure_options=dict(measure_options),
        n_random=int(n_random),
    )
    if measure_info:
        table.attrs["measure_info"] = measure_info
    return table


def _with_targets(problem: _Problem, target_sets: list[np.ndarray]) -> _Problem:
    """The same problem with every drug column's target nodes replaced (e.g. by a module grown around them)."""
    if len(target_sets) != len(problem.drug_start) or any(len(t) == 0 for t in target_sets):
        raise RuntimeError("a measure's prepare hook must return one non-empty node set per drug column")
    sizes = np.array([len(t) for t in target_sets], dtype=np.int64)
    return replace(
        problem,
        target_slots=np.concatenate([np.asarray(t, dtype=np.int64) for t in target_sets]),
        target_drug=np.repeat(np.arange(len(target_sets)), sizes),
        drug_start=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
    )


def _columns(problem: _Problem, a: int, b: int) -> _Problem:
    """The problem restricted to drug columns a..b-1 (their target slots are contiguous)."""
    end = np.append(problem.drug_start, len(problem.target_slots))
    lo, hi = int(end[a]), int(end[b])
    return replace(
        problem,
        target_slots=problem.target_slots[lo:hi],
        target_drug=problem.target_drug[lo:hi] - a,
        drug_start=problem.drug_start[a:b] - lo,
    )


def _observed_values(
    problem: _Problem,
    measured: _Problem,
    method: Method,
    state: Any,
    ranges: list[tuple[int, int]],
    measured_ranges: list[tuple[int, int]],
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Observed closest, shortest and separation values, and the measure's numerator and denominator."""
    memo: dict[str, Any] = {}  # every range of drugs holds the same pathway genes
    stats = _in_ranges(lambda p: _observed(p, memo), problem, ranges)
    memo_measured: dict[str, Any] = {}
    observed = _in_ranges(
        lambda p: _measure(p, p.target_slots, None, p.gene_slots, None, method, state, memo_measured),
        measured,
        measured_ranges,
    )
    return stats, observed


def _within(ranges: list[tuple[int, int]], span: tuple[int, int]) -> list[tuple[int, int]]:
    """The parts of ``ranges`` inside ``span``, relative to its start."""
    a, b = span
    return [(max(x, a) - a, min(y, b) - a) for x, y in ranges if min(y, b) > max(x, a)]


def _observed_task(
    task: tuple[tuple[int, int], list[tuple[int, int]], list[tuple[int, int]]], shared: tuple[Any, ...]
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The observed values of a span of drug columns on a Dask worker."""
    problem, measured, method, state = shared
    (a, b), ranges, measured_ranges = task
    return _observed_values(
        _columns(problem, a, b), _columns(measured, a, b), method, state, ranges, measured_ranges
    )


def _null_task(task: tuple[int, int, tuple[int, int]], shared: tuple[Any, ...]) -> tuple[np.ndarray, ...]:
    """One block of null draws for some drug columns on a Dask worker (``shared``, the problem, is sent to each
    worker once)."""
    measured, bins, stream, observed, method, state = shared
    start, size, (a, b) = task
    ranges = [(a + x, a + y) for x, y in _drug_ranges(_columns(measured, a, b))]
    return _null_blocks(
        measured, bins, stream, [start], [size], observed, method, lambda: None, state, ranges
    )[0]


def _drug_chunks(n_units: int, n_blocks: int, n_workers: int) -> list[tuple[int, int]]:
    """Split the drug columns so that blocks x chunks gives every worker about four tasks.

    Columns are measured independently, so the split changes no number, only how many workers can be busy.
    """
    n_chunks = max(1, min(n_units, math.ceil(4 * max(n_workers, 1) / n_blocks)))
    edges = np.linspace(0, n_units, n_chunks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def _fold_in_order(
    results: Iterable[tuple[int, tuple[np.ndarray, ...]]],
    n_blocks: int,
    on_block: Callable[[], None] | None = None,
    n_chunks: int = 1,
) -> tuple[np.ndarray, ...]:
    """Combine per-block sums, squares, counts, minima and maxima in block order, whatever order they arrive in.

    Result ``i`` is block ``i // n_chunks`` of drug-column chunk ``i % n_chunks``; a block's chunks are joined
    column-wise. Sums are added in block order (a fixed order keeps results byte-identical); a block that arrives
    early waits, so at most the out-of-order blocks are held.
    """
    pending: dict[int, tuple[np.ndarray, ...]] = {}
    parts: dict[int, dict[int, tuple[np.ndarray, ...]]] = {}
    acc: list[np.ndarray] = []
    following = 0
    for i, part in results:
        block = i // n_chunks
        parts.setdefault(block, {})[i % n_chunks] = part
        if len(parts[block]) < n_chunks:
            continue
        done_parts = parts.pop(block)
        ordered = [done_parts[c] for c in range(n_chunks)]
        joined = zip(*ordered, strict=True)
        pending[block] = ordered[0] if n_chunks == 1 else tuple(np.concatenate(k, axis=1) for k in joined)
        while following in pending:
            s1, s2, n_le, lo, hi = pending.pop(following)
            if not acc:
                acc = [s1.copy(), s2.copy(), n_le.copy(), lo.copy(), hi.copy()]
            else:
                acc[0] += s1
                acc[1] += s2
                acc[2] += n_le
                np.minimum(acc[3], lo, out=acc[3])
                np.maximum(acc[4], hi, out=acc[4])
            following += 1
            if on_block is not None:
                on_block()
    if following != n_blocks:
        raise RuntimeError(f"{following} of {n_blocks} blocks of null draws came back.")
    return tuple(acc)


def _observed(problem: _Problem, memo: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Observed closest, shortest and separation values for every pathway x drug."""
    targets, genes = problem.target_slots, problem.gene_slots
    n_t = np.diff(np.append(problem.drug_start, len(targets))).astype(np.float64)
    k = problem.pathway_size.astype(np.float64)
    view = _view(problem, targets, None, genes, None, memo=memo)
    rows = view.distances()  # (n_gene_slots, n_target_slots)
    nearest_gene = view.sum_over_targets(view.nearest_gene().astype(np.int64)).astype(np.float64)
    per_pathway = np.add.reduceat(rows.astype(np.int64), problem.pathway_start, axis=0)
    shortest = np.add.reduceat(per_pathway, problem.drug_start, axis=1) / np.outer(k, n_t)
    num, den = separation_parts(view)
    with np.errstate(divide="ignore", invalid="ignore"):
        separation = num / den
    return {
        "closest_distance": nearest_gene / n_t,
        "shortest_distance": shortest,
        "separation": separation,
    }
