"""Degree-preserving random node sets, binned as in the Guney et al. (2016) proximity toolbox."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from organoidrx._utils import InputError

__all__ = ["DegreeBins", "degree_bins"]

MAX_RETRIES = 20


@dataclass(frozen=True)
class DegreeBins:
    """Nodes grouped by degree.

    Attributes
    ----------
    low, high : ndarray of int, shape (n_bins,)
        Inclusive degree bounds of each bin.
    nodes : ndarray of int, shape (n_nodes,)
        Node indices ordered by bin (and by index within a bin); bin ``b`` is ``nodes[start[b]:start[b + 1]]``.
    start : ndarray of int, shape (n_bins + 1,)
        Offsets of the bins in ``nodes``.
    bin_of : ndarray of int, shape (n_nodes,)
        Bin of every node.
    position : ndarray of int, shape (n_nodes,)
        Position of every node inside its bin.
    """

    low: np.ndarray
    high: np.ndarray
    nodes: np.ndarray
    start: np.ndarray
    bin_of: np.ndarray
    position: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """Number of nodes in each bin."""
        return np.diff(self.start)

    def table(self) -> list[tuple[int, int, int]]:
        """``(low, high, size)`` of every bin."""
        return list(zip(self.low.tolist(), self.high.tolist(), self.sizes.tolist(), strict=True))


def degree_bins(degree: np.ndarray, *, min_bin_size: int = 100) -> DegreeBins:
    """Group nodes into bins of consecutive degrees holding at least ``min_bin_size`` nodes each.

    Parameters
    ----------
    degree : ndarray of int, shape (n_nodes,)
        Degree of every node.
    min_bin_size : int, default 100
        Smallest number of nodes in a bin.

    Returns
    -------
    DegreeBins

    Notes
    -----
    The rule of ``get_degree_binning`` in the Guney et al. toolbox: walk the distinct degrees upwards, open a bin at
    the current degree and add the nodes of the following degrees until the bin holds at least ``min_bin_size``
    nodes; its bounds are the first and last degree it took, both inclusive. A last bin that stays short is merged
    into the one before. A network with fewer than ``min_bin_size`` nodes is one bin.

    References
    ----------
    Guney E., Menche J., Vidal M., Barabási A.-L. (2016). Network-based in silico drug efficacy screening.
    Nat Commun 7:10331. doi:10.1038/ncomms10331
    """
    degree = np.asarray(degree, dtype=np.int64)
    if min_bin_size < 1:
        raise InputError(f"min_bin_size must be at least 1; got {min_bin_size}.")
    values, counts = np.unique(degree, return_counts=True)
    lows: list[int] = []
    highs: list[int] = []
    sizes: list[int] = []
    i = 0
    while i < len(values):
        low, size = int(values[i]), int(counts[i])
        while size < min_bin_size and i + 1 < len(values):
            i += 1
            size += int(counts[i])
        high = int(values[i])
        i += 1
        if size < min_bin_size and lows:
            highs[-1] = high
            sizes[-1] += size
        else:
            lows.append(low)
            highs.append(high)
            sizes.append(size)
    low_arr = np.asarray(lows, dtype=np.int64)
    high_arr = np.asarray(highs, dtype=np.int64)
    bin_of = np.searchsorted(high_arr, degree, side="left")
    nodes = np.argsort(bin_of, kind="stable")
    start = np.concatenate([[0], np.cumsum(np.bincount(bin_of, minlength=len(lows)))])
    position = np.empty(len(degree), dtype=np.int64)
    position[nodes] = np.arange(len(degree)) - start[bin_of[nodes]]
    return DegreeBins(low_arr, high_arr, nodes, start, bin_of, position)


class SetSampler:
    """Draw degree-preserving random versions of many node sets at once.

    Each set is a group of "slots" (its real nodes). A draw replaces every real node by a uniformly chosen
    *other* node of its degree bin; a node already taken by its set is redrawn up to ``MAX_RETRIES`` times (a set
    larger than its bin keeps the repeat instead of looping forever). Slots of one set are contiguous.

    The random numbers are counter-based: the choice for a slot in draw ``t`` (and redraw ``r``) is a hash of the
    run's ``key``, the set's content (its sorted nodes), the slot's node, ``t`` and ``r``, and two slots of a set
    that draw the same node are settled in node order. A set's random versions (slot by slot) therefore depend
    only on the seed, the set itself and the draw number, not on the order of its nodes: a drug's null, and so
    its z-scores,
    are the same whichever other drugs or pathways are measured with it, and in whatever blocks or order the
    draws are made.
    """

    def __init__(
        self,
        bins: DegreeBins,
        slot_nodes: np.ndarray,
        slot_group: np.ndarray,
        n_nodes: int,
        key: int = 0,
    ) -> None:
        self.bins = bins
        nodes = np.asarray(slot_nodes, dtype=np.int64)
        group = np.asarray(slot_group, dtype=np.int64)
        # within each set, slots in node order: which slot keeps a node two of them drew (the later one) must not
        # depend on the order the set's genes were listed in
        run = np.zeros(len(group), dtype=np.int64)
        run[1:] = np.cumsum(group[1:] != group[:-1])
        order = np.lexsort((nodes, run))
        self._unsort = np.empty(len(order), dtype=np.int64)
        self._unsort[order] = np.arange(len(order))
        self.slot_nodes, self.slot_group = nodes[order], group[order]
        b = bins.bin_of[self.slot_nodes]
        self._bin_start = bins.start[b]
        self._n_other = (bins.sizes[b] - 1).astype(np.uint64)
        self._n_other_int = self._n_other.astype(np.int64)
        self._self_pos = bins.position[self.slot_nodes]
        # repeats can only happen within one set and one bin: each (set, bin) group gets its own key range of the
        # bin's size, keyed by the drawn node's position in the bin (a compact, cache-friendly stamp array)
        group = self.slot_group * (len(bins.sizes) + 1) + b
        _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
        sizes = bins.sizes[b[first]]
        self._key_base = (np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64))[inverse]
        # stamp[key] = slot that last claimed the key; never reset: a claim is valid only if that slot holds it
        self._stamp = np.zeros(int(sizes.sum()) if len(sizes) else 0, dtype=np.int32)
        self._slot_key = _slot_keys(int(key), self.slot_nodes, self.slot_group)

    def _draw(self, draw: int, attempt: int, which: np.ndarray | None) -> np.ndarray:
        """Position in its bin of a uniform other node of the bin, for each slot in ``which`` (None: all)."""
        n_other = self._n_other if which is None else self._n_other[which]
        slot_key = self._slot_key if which is None else self._slot_key[which]
        counter = _mix(np.array([draw * (MAX_RETRIES + 1) + attempt], dtype=np.uint64))
        raw = _mix(slot_key ^ counter) >> np.uint64(32)
        pick = ((raw * n_other) >> np.uint64(32)).astype(np.int64)  # floor(u * n_other), u uniform on [0, 1)
        pick += pick >= (self._self_pos if which is None else self._self_pos[which])
        # a bin of one node (n_other = 0): the clamp makes the node stand for itself
        np.minimum(pick, self._n_other_int if which is None else self._n_other_int[which], out=pick)
        return pick

    def sample(self, draw: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw number ``draw``: the random node of every slot and whether it is a repeat within its set (after
        retries)."""
        n_slots = len(self.slot_nodes)
        slots = np.arange(n_slots, dtype=np.int32)
        keys = self._key_base + self._draw(draw, 0, None)
        stamp = self._stamp
        stamp[keys] = slots
        pending = slots[stamp[keys] != slots]
        if len(pending):
            is_pending = np.zeros(n_slots, dtype=bool)
            is_pending[pending] = True
            for attempt in range(1, MAX_RETRIES + 1):
                if len(pending) == 0:
                    break
                k = self._key_base[pending] + self._draw(draw, attempt, pending)
                keys[pending] = k
                owner = stamp[k]
                taken = (keys[owner] == k) & ~is_pending[owner]
                free = pending[~taken]
                stamp[k[~taken]] = free
                won = free[stamp[keys[free]] == free]
                is_pending[won] = False
                pending = pending[is_pending[pending]]
        repeat = np.zeros(n_slots, dtype=bool)
        repeat[pending] = True
        drawn = self.bins.nodes[self._bin_start + keys - self._key_base]
        return drawn[self._unsort], repeat[self._unsort]


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea and Flood 2014) on an array of uint64: a bijection whose outputs of
    distinct inputs behave as independent uniform 64-bit numbers."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _slot_keys(key: int, nodes: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per slot, a 64-bit key from the run's key, its set's content (sorted distinct nodes) and its node."""
    out = np.zeros(len(nodes), dtype=np.uint64)
    if not len(nodes):
        return out
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for members in np.split(order, bounds):
        content = np.unique(nodes[members]).astype("<i8").tobytes()
        digest = hashlib.blake2b(content, digest_size=8, key=key.to_bytes(8, "little")).digest()
        out[members] = np.frombuffer(digest, dtype="<u8")[0]
    return _mix(out ^ _mix(nodes.astype(np.uint64) + np.uint64(1)))
