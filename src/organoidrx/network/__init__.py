"""Network building, shortest-path distances, registered network measures and proximity z-scores."""

from organoidrx.network._cache import cache_entries, clear_cache, default_cache_dir, prune_cache
from organoidrx.network._distances import check_memory, shortest_path_lengths
from organoidrx.network._graph import Interactome, build_interactome
from organoidrx.network._measures import DistanceView
from organoidrx.network._null import DegreeBins, degree_bins
from organoidrx.network._proximity import PROXIMAL_Z, proximity

__all__ = [
    "PROXIMAL_Z",
    "DegreeBins",
    "DistanceView",
    "Interactome",
    "build_interactome",
    "cache_entries",
    "check_memory",
    "clear_cache",
    "default_cache_dir",
    "degree_bins",
    "proximity",
    "prune_cache",
    "shortest_path_lengths",
]
