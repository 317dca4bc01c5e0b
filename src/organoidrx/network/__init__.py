"""Network building, shortest-path distances, registered network measures and proximity z-scores."""

from organoidrx.network._cache import cache_entries, clear_cache, default_cache_dir, prune_cache
from organoidrx.network._diamond import diamond_module, diamond_nodes
from organoidrx.network._distances import check_memory, shortest_path_lengths
from organoidrx.network._graph import Interactome, build_interactome
from organoidrx.network._measures import MEASURE_ATTRS, DistanceView, MeasureSetup, Preparation
from organoidrx.network._null import DegreeBins, degree_bins
from organoidrx.network._propagation import propagation_matrix
from organoidrx.network._proximity import PROXIMAL_Z, proximity
from organoidrx.network._separation import separation_parts

__all__ = [
    "MEASURE_ATTRS",
    "PROXIMAL_Z",
    "DegreeBins",
    "DistanceView",
    "Interactome",
    "MeasureSetup",
    "Preparation",
    "build_interactome",
    "cache_entries",
    "check_memory",
    "clear_cache",
    "default_cache_dir",
    "degree_bins",
    "diamond_module",
    "diamond_nodes",
    "propagation_matrix",
    "proximity",
    "prune_cache",
    "separation_parts",
    "shortest_path_lengths",
]
