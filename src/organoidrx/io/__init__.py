"""Readers for the files scientists download: expression, gene sets, networks, targets, responses, clinical."""

from organoidrx.io._drug_names import DrugNameResolver, normalize_drug_key, normalize_drug_names
from organoidrx.io._expression import read_expression, write_expression
from organoidrx.io._identifiers import (
    detect_gene_id_type,
    harmonize_gene_ids,
    read_gene_id_map,
    reconcile_sample_ids,
    strip_ensembl_version,
)

__all__ = [
    "DrugNameResolver",
    "detect_gene_id_type",
    "harmonize_gene_ids",
    "normalize_drug_key",
    "normalize_drug_names",
    "read_expression",
    "read_gene_id_map",
    "reconcile_sample_ids",
    "strip_ensembl_version",
    "write_expression",
]
