"""The configuration language: every section and key of a run's TOML file, each written once as an :class:`Option`.

Each entry pairs an :class:`~organoidrx._registry.Option` (name, default, type, meaning, allowed values) with the
:class:`~organoidrx.pipeline._config.PipelineConfig` field it fills. ``read_config``, ``run_pipeline(**overrides)``
and the docs' config reference all read it from here.
"""

from __future__ import annotations

import json
from typing import get_args

from organoidrx._compute import DASK
from organoidrx._memory import MEMORY
from organoidrx._registry import Option
from organoidrx._units import TIME_UNITS
from organoidrx.io._drugs import Replicates
from organoidrx.io._expression import DUPLICATES
from organoidrx.network._proximity import N_RANDOM
from organoidrx.scoring import MAX_SIZE, MIN_SIZE

__all__ = ["SCHEMA"]


def _path(name: str, help: str, *, required: bool = False) -> Option:
    return Option(name, None, str, help, nullable=True, required=required, path=True)


def _column(name: str, default: str | None, help: str) -> Option:
    return Option(name, default, str, help, nullable=default is None)


#: section -> ((option, PipelineConfig field), ...): the configuration language, one definition per key.
SCHEMA: dict[str, tuple[tuple[Option, str], ...]] = {
    "preclinical": (
        (_path("expression", "organoid expression, genes x samples", required=True), "organoid_expression"),
        (
            _path("response", "organoid drug responses (long or wide table)", required=True),
            "organoid_response",
        ),
        (
            Option("metric", "IC50", str, "response metric to use when the table holds several"),
            "response_metric",
        ),
        (
            Option(
                "lower_is_sensitive", True, bool, "a low response value means a sensitive organoid (IC50)"
            ),
            "lower_is_sensitive",
        ),
        (DUPLICATES, "duplicates"),
        (
            Option(
                "replicates",
                "error",
                str,
                "what to do with an organoid x drug pair measured twice with different values",
                choices=get_args(Replicates),
            ),
            "replicates",
        ),
        (
            Option(
                "log_scale",
                None,
                bool,
                "whether the responses are log-transformed (true) or linear and positive (false); unset: inferred",
                nullable=True,
            ),
            "log_scale",
        ),
    ),
    "network": (
        (
            _path("edges", "protein interaction edge table (STRING links, dmfind, any A/B/score table)"),
            "network",
        ),
        (_path("proximity", "precomputed proximity table instead of edges (long or wide)"), "proximity"),
        (
            Option("edge_columns", None, list, "endpoint and score columns of the edge table", nullable=True),
            "edge_columns",
        ),
        (
            Option(
                "min_score",
                700,
                float,
                "keep edges with score > this (a negative value keeps every edge)",
                nullable=True,
            ),
            "min_score",
        ),
        (_path("id_map", "gene identifier map used to translate the network to symbols"), "id_map"),
    ),
    "pathways": (
        (_path("gene_sets", "GMT file of pathways (e.g. Reactome)", required=True), "gene_sets"),
        (
            _path(
                "proximity_gene_sets",
                "GMT of the same pathways for network proximity when it differs from gene_sets (Kong et al. "
                "restricted proximity's sets to the genes of TCGA); default gene_sets",
            ),
            "proximity_gene_sets",
        ),
        (MIN_SIZE, "min_size"),
        (MAX_SIZE, "max_size"),
    ),
    "drugs": (
        (
            _path("targets", "drug targets: long drug,target or wide drugs,targets table", required=True),
            "targets",
        ),
        (Option("names", None, list, "drugs to run, any spelling", required=True), "drugs"),
    ),
    "patients": (
        (_path("expression", "patient expression, genes x samples", required=True), "patient_expression"),
        (
            _path(
                "clinical",
                "clinical table: patient, follow-up time, event, drug; or the GDC portal's clinical.tsv (read as "
                "such when no column below is named)",
                required=True,
            ),
            "clinical",
        ),
        (
            _path(
                "follow_up",
                "the GDC download's follow_up.tsv beside its clinical.tsv: living patients' last contact",
            ),
            "follow_up",
        ),
        (_column("patient_col", "patient", "clinical column of patient ids"), "patient_col"),
        (_column("duration_col", "time", "clinical column of follow-up time"), "duration_col"),
        (_column("event_col", "event", "clinical column of the event (1 death, 0 censored)"), "event_col"),
        (
            _column(
                "drug_col",
                "drug",
                "clinical column of the drug given (a combination or regimen cell such as 'FOLFOX' counts for each of its drugs)",
            ),
            "drug_col",
        ),
        (
            _column("response_col", None, "clinical column of recorded response (RECIST), optional"),
            "response_col",
        ),
        (Option("time_unit", "days", str, "unit of the follow-up time", choices=TIME_UNITS), "time_unit"),
        (Option("covariates", (), list, "clinical columns to adjust the Cox model for"), "covariates"),
    ),
    "settings": (
        (Option("scorer", "ssgsea", str, "pathway scorer", kind="scorer"), "scorer"),
        (
            Option("measure", "closest", str, "network measure tested for proximity", kind="measure"),
            "measure",
        ),
        (
            Option(
                "model",
                "ridge",
                (str, list),
                "response model fitted on the organoids; a list of models: each drug's model is chosen among them "
                "by nested leave-one-out cross-validation of the organoids (ties: earlier model)",
                kind="model",
            ),
            "model",
        ),
        (
            Option(
                "alignment",
                "standardize",
                str,
                "how patient scores reach the organoid scale",
                kind="alignment",
            ),
            "alignment",
        ),
        (
            N_RANDOM,
            "n_random",
        ),
        (Option("seed", 0, int, "seed of every random step", minimum=0), "seed"),
        (
            Option(
                "top_k",
                10,
                (int, list),
                "pathways kept by the response model; a list: chosen per drug with the model by nested "
                "leave-one-out cross-validation of the organoids (ties: smaller k)",
                minimum=1,
                maximum=10**5,
            ),
            "top_k",
        ),
        (
            Option(
                "n_permutations", 1000, int, "whole-pipeline permutations (0: none)", minimum=0, maximum=10**6
            ),
            "n_permutations",
        ),
        (
            Option(
                "quantile",
                0.5,
                float,
                "share of treated patients called predicted responders",
                minimum=0,
                maximum=1,
                exclusive=True,
            ),
            "quantile",
        ),
        (
            Option("horizon_months", 60.0, float, "landmark of the survival rate", minimum=0, exclusive=True),
            "horizon_months",
        ),
        (
            Option(
                "n_random_sets",
                100,
                int,
                "random pathway sets of matched size, and as many shuffles of the responses, on which the configured "
                "model is cross-validated as on the proximal pathways (its test in organoid_cv.tsv)",
                minimum=0,
                maximum=10**5,
            ),
            "n_random_sets",
        ),
        (
            Option("force", False, bool, "run work estimated to take longer than the 12-hour guard"),
            "force",
        ),
        (MEMORY, "memory"),
    ),
    "compute": ((DASK, "dask"),),
    "compare": (
        (
            Option(
                "scorers", (), list, "pathway scorers compared by 'organoidrx compare' (empty: every one)"
            ),
            "compare_scorers",
        ),
        (
            Option("measures", (), list, "network measures selecting the pathways (empty: every one)"),
            "compare_measures",
        ),
        (Option("models", (), list, "response models compared (empty: every one)"), "compare_models"),
        (
            Option(
                "baselines",
                ("all_pathways", "all_genes", "target_genes"),
                list,
                "feature sets shown beside the network selections: all_pathways, all_genes, target_genes",
            ),
            "compare_baselines",
        ),
        (
            Option(
                "n_random_sets",
                1000,
                int,
                "random pathway sets of each selection's size per drug: the null of every p (smallest p 1/(n+1))",
                minimum=1,
                maximum=10**6,
            ),
            "compare_n_random_sets",
        ),
        (
            Option(
                "stop_after",
                10,
                int,
                "stop fitting a test's random sets once this many do at least as well as the selection; p is then "
                "stop_after / sets fitted (Besag and Clifford 1991); 0 fits all n_random_sets",
                minimum=0,
            ),
            "compare_stop_after",
        ),
        (
            Option(
                "alpha",
                1.0,
                float,
                "ridge penalty of the 'ridge' model in the comparison (one fixed value, so random sets are fitted "
                "exactly as the selection is)",
                minimum=0,
                exclusive=True,
            ),
            "compare_alpha",
        ),
    ),
}


def _cell(option: Option) -> tuple[str, str, str]:
    """Type, default and allowed values of ``option`` as Markdown table cells."""
    from organoidrx._registry import _type_name

    kind = "path" if option.path else _type_name(option.type)
    if option.default is None:
        default = "required" if option.required else "not set"
    else:
        value = list(option.default) if isinstance(option.default, tuple) else option.default
        default = f"`{json.dumps(value)}`"
    allowed = option.allowed()
    if allowed is not None:
        values = ", ".join(f"`{v}`" for v in allowed)
    elif option.minimum is not None or option.maximum is not None:
        low = "" if option.minimum is None else f"{'>' if option.exclusive else '>='} {option.minimum:,g}"
        high = "" if option.maximum is None else f"{'<' if option.exclusive else '<='} {option.maximum:,g}"
        values = " and ".join(v for v in (low, high) if v)
    else:
        values = ""
    return kind, default, values


def config_reference() -> str:
    """The configuration reference in Markdown, generated from :data:`SCHEMA` and the method registries.

    ``make_references`` in ``docs/`` writes it to ``docs/config.md``; a test checks the committed file.
    """
    from organoidrx._registry import KINDS, list_methods

    lines = [
        "# Run configuration reference",
        "",
        "<!-- generated by `python docs/make_references.py`; do not edit by hand -->",
        "",
        "A run is described by one TOML file (`organoidrx run CONFIG.toml --out DIR`). Paths are relative to the",
        "file's folder. `[preclinical]`, `[pathways]` and `[drugs]` are required; without `[patients]` the run is",
        "preclinical only. The options of the chosen methods go in `[scorer]`, `[measure]`, `[model]` and",
        "`[alignment]`; when `model` lists candidates, each gets the `[model]` options it takes.",
        "`examples/kong2020_coad/config.toml` is an annotated example; the demo's `cohort/config.toml` is a plain one.",
    ]
    for section, entries in SCHEMA.items():
        lines += [
            "",
            f"## [{section}]",
            "",
            "| key | type | default | allowed | meaning |",
            "|---|---|---|---|---|",
        ]
        for option, _ in entries:
            kind, default, values = _cell(option)
            lines.append(f"| `{option.name}` | {kind} | {default} | {values} | {option.help} |")
    for kind in KINDS:
        lines += ["", f"## [{kind}]", "", f"Options of the chosen {kind} (`[settings] {kind}`)."]
        for method in list_methods(kind):
            summary = method.summary[:1].upper() + method.summary[1:]
            lines += ["", f"### {method.name}", "", f"{summary}. {method.reference}"]
            if not method.options:
                lines += ["", "No options."]
                continue
            lines += ["", "| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
            for option in method.options:
                kind_, default, values = _cell(option)
                lines.append(f"| `{option.name}` | {kind_} | {default} | {values} | {option.help} |")
    return "\n".join(lines) + "\n"
