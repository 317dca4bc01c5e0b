"""Readers for the files scientists download: expression, gene sets, networks, targets, responses, clinical."""

from organoidrx.io._clinical import (
    normalize_response,
    read_clinical,
    read_tcga_biotab_drug,
    read_tcga_biotab_patient,
    read_tcga_cdr,
    read_tcga_drug_response,
    tcga_treated_cohort,
    tcga_tumour_samples,
)
from organoidrx.io._drug_names import (
    DrugNameResolver,
    drug_keys,
    match_drugs,
    normalize_drug_key,
    normalize_drug_names,
)
from organoidrx.io._drugs import read_drug_response, read_drug_targets, response_matrix, select_drugs
from organoidrx.io._expression import read_expression, write_expression
from organoidrx.io._gdc import read_gdc_expression, read_gdc_sample_sheet
from organoidrx.io._gdc_clinical import read_gdc_clinical
from organoidrx.io._gene_sets import read_gmt, write_gmt
from organoidrx.io._geo import read_geo_series_matrix
from organoidrx.io._identifiers import (
    detect_gene_id_type,
    harmonize_gene_ids,
    read_gene_id_map,
    reconcile_sample_ids,
    strip_ensembl_version,
)
from organoidrx.io._inspect import FileReport, inspect_file
from organoidrx.io._network import read_network
from organoidrx.io._outputs import output_format, write_obsm, write_pairs, write_table
from organoidrx.io._streaming import ExpressionSource, iter_expression_chunks, open_expression

__all__ = [
    "DrugNameResolver",
    "ExpressionSource",
    "FileReport",
    "detect_gene_id_type",
    "drug_keys",
    "harmonize_gene_ids",
    "inspect_file",
    "iter_expression_chunks",
    "match_drugs",
    "normalize_drug_key",
    "normalize_drug_names",
    "normalize_response",
    "open_expression",
    "output_format",
    "read_clinical",
    "read_drug_response",
    "read_drug_targets",
    "read_expression",
    "read_gdc_clinical",
    "read_gdc_expression",
    "read_gdc_sample_sheet",
    "read_gene_id_map",
    "read_geo_series_matrix",
    "read_gmt",
    "read_network",
    "read_tcga_biotab_drug",
    "read_tcga_biotab_patient",
    "read_tcga_cdr",
    "read_tcga_drug_response",
    "reconcile_sample_ids",
    "response_matrix",
    "select_drugs",
    "strip_ensembl_version",
    "tcga_treated_cohort",
    "tcga_tumour_samples",
    "write_expression",
    "write_gmt",
    "write_obsm",
    "write_pairs",
    "write_table",
]
