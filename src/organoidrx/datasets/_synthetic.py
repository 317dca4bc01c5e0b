"""A seeded synthetic cohort with a planted, documented drug-response signal.

The cohort mimics the inputs of Kong et al. (2020): a protein-protein interaction network with STRING-like scores,
pathway gene sets, drug targets, organoid expression with drug responses, and patient expression with clinical
follow-up. Every piece is drawn from one random seed, and the ground truth (which pathways drive the response to
which drug) is kept beside the data so that each step of the pipeline can be checked against it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph
from scipy.stats import norm

from organoidrx._utils import InputError, atomic_write, check_random_state, write_tsv
from organoidrx.io import write_gmt

logger = logging.getLogger(__name__)

__all__ = ["SyntheticCohort", "make_synthetic_cohort"]

# --------------------------------------------------------------------------------------------------- constants
# Network: expected degree of a node with propensity 1 inside / outside its community (high-confidence edges).
_DEGREE_IN = 9.0
_DEGREE_OUT = 2.0
_PROPENSITY_SD = 0.9  # log-normal sd of the degree propensity; gives hubs with ~10x the median degree
_LOW_SCORE_TRUE = 0.08  # share of true edges scored at or below 700
_NOISE_EDGES = 0.3  # low-score spurious edges, as a share of true edges
_SCORE_CUT = 700

# Pathways
_MIN_SIZE, _MAX_SIZE = 10, 100
_SIZE_SCALE = 0.5  # size = 10 * exp(Exponential(scale)) -> median ~14, mean ~20, a few near 100
_CORE_SHARE = 0.85  # share of a pathway's genes drawn from its home community
_PATHWAYS_PER_COMMUNITY = 6
_N_PLANTED = 4
_TARGETS_PER_DRUG = (3, 5)

# Latent activities and expression
_COMMUNITY_CORRELATION = 0.3  # correlation of the activities of two pathways sharing a community
_LOADING = (0.4, 0.9)
_NOISE_ORGANOID = 0.5  # sd of log IC50 noise (unit-variance signal)

# Patients
_BETA = 1.0  # log-hazard per standard deviation of the planted score, times patient_effect
_AGE_COEF, _STAGE_COEF = 0.02, 0.35
_UNTREATED_SHIFT = 0.2
_FRAILTY_SD = 0.3
_WEIBULL_SHAPE = 1.3
_WEIBULL_SCALE = 1200.0  # days; median survival ~ 900 days at zero log-hazard
_CENSOR_MAX = 3650.0  # days; censoring ~ Uniform(0, 10 years)
_RECIST_SHARE = 0.7
_RECIST_LEVELS = ("PD", "SD", "PR", "CR")
_RECIST_NULL_SHARES = (0.30, 0.35, 0.25, 0.10)
_STAGE_PROBS = (0.15, 0.30, 0.35, 0.20)

_FILES = {
    "organoid_expression": "organoid_expression.tsv",
    "organoid_response": "organoid_response.tsv",
    "network": "network.tsv",
    "gene_sets": "pathways.gmt",
    "targets": "drug_targets.tsv",
    "patient_expression": "patient_expression.tsv",
    "clinical": "clinical.tsv",
    "truth": "truth.tsv",
    "config": "config.toml",
}


# --------------------------------------------------------------------------------------------------- container
@dataclass(frozen=True, eq=False)
class SyntheticCohort:
    """A complete synthetic study: network, pathways, targets, organoids, patients and the planted truth.

    Build one with :func:`make_synthetic_cohort`; the tables follow the package conventions (samples as rows,
    relations as long tables). Treat the tables as read-only.

    Attributes
    ----------
    network : DataFrame
        Long edge table ``gene_a, gene_b, score`` (integer STRING-like scores 150..999, ``gene_a < gene_b``).
    gene_sets : DataFrame
        Long table ``pathway, gene``.
    targets : DataFrame
        Long table ``drug, target``.
    organoid_expression : DataFrame of shape (n_organoids, n_genes)
        log2-scale expression, microarray-like.
    organoid_response : DataFrame
        Long table ``sample, drug, value`` of natural-log IC50 (lower = more sensitive); ``attrs`` holds
        ``metric="IC50"`` and ``lower_is_sensitive=True``.
    patient_expression : DataFrame of shape (n_patients, n_genes)
        log2-scale expression on a different location and scale than the organoids.
    clinical : DataFrame
        ``patient, time, event, drug, response, age, stage``: time in days, event 0/1, drug name or NaN when
        untreated, RECIST-like ``CR/PR/SD/PD`` for a subset of treated patients (NaN elsewhere), age in years,
        stage 1..4.
    organoid_activities, patient_activities : DataFrame of shape (n_samples, n_pathways)
        The latent pathway activities ``A`` that generated the expression and outcomes (not part of the files a
        user brings; kept to check what the pipeline recovers).
    truth : DataFrame
        One row per drug and pathway: ``drug, pathway, proximal, weight``. ``proximal`` is True when the pathway's
        home community holds the drug's targets; ``weight`` is the planted weight ``w_p`` (0 for pathways that do
        not drive the response).
    params : dict
        The arguments the cohort was made with.
    """

    network: pd.DataFrame
    gene_sets: pd.DataFrame
    targets: pd.DataFrame
    organoid_expression: pd.DataFrame
    organoid_response: pd.DataFrame
    patient_expression: pd.DataFrame
    clinical: pd.DataFrame
    organoid_activities: pd.DataFrame
    patient_activities: pd.DataFrame
    truth: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def drugs(self) -> list[str]:
        """Drug names in the order given."""
        return list(dict.fromkeys(self.targets["drug"]))

    def planted(self, drug: str) -> list[str]:
        """Pathways that drive the response to ``drug`` (weight > 0), strongest first."""
        rows = self.truth[(self.truth["drug"] == drug) & (self.truth["weight"] > 0)]
        if rows.empty and drug not in set(self.truth["drug"]):
            raise InputError(f"drug {drug!r} is not in the cohort; it has {', '.join(self.drugs)}.")
        return list(rows.sort_values("weight", ascending=False, kind="stable")["pathway"])

    def summary(self) -> str:
        """A few human-readable lines describing the cohort."""
        p = self.params
        sizes = self.gene_sets.groupby("pathway", sort=False).size()
        strong = int((self.network["score"] > _SCORE_CUT).sum())
        clinical = self.clinical
        treated = clinical["drug"].notna()
        lines = [
            f"Synthetic cohort (seed {p.get('random_state')}, effect {p.get('effect')}, "
            f"patient_effect {p.get('patient_effect')})",
            f"  genes: {self.organoid_expression.shape[1]}; pathways: {len(sizes)} "
            f"(sizes {sizes.min()}-{sizes.max()}, median {int(sizes.median())})",
            f"  network: {len(self.network)} edges, {strong} with score > {_SCORE_CUT}",
            f"  organoids: {self.organoid_expression.shape[0]} with log IC50 for "
            f"{', '.join(self.drugs)} (lower = more sensitive)",
        ]
        per_drug = ", ".join(f"{d} {int((clinical['drug'] == d).sum())}" for d in self.drugs)
        lines.append(
            f"  patients: {len(clinical)} ({int(treated.sum())} treated: {per_drug}; "
            f"{int((~treated).sum())} untreated); {int(clinical['event'].sum())} events; "
            f"RECIST response for {int(clinical['response'].notna().sum())}"
        )
        for drug in self.drugs:
            targets = self.targets.loc[self.targets["drug"] == drug, "target"]
            lines.append(
                f"  {drug}: targets {', '.join(targets)}; planted pathways {', '.join(self.planted(drug))}"
            )
        return "\n".join(lines)

    def write(
        self, folder: str | os.PathLike[str], *, settings: dict[str, Any] | None = None
    ) -> dict[str, Path]:
        """Write the cohort as the files a user would bring, plus a ``config.toml`` that points at them.

        Parameters
        ----------
        folder : str or Path
            Created if needed; existing files of the same names are replaced, each one atomically.
        settings : dict, optional
            ``[settings]`` keys written into ``config.toml`` over the defaults (e.g. ``{"n_permutations": 200}``),
            so that the file describes the run made with it.

        Returns
        -------
        dict of str to Path
            ``organoid_expression``, ``organoid_response``, ``network``, ``gene_sets``, ``targets``,
            ``patient_expression``, ``clinical``, ``truth`` and ``config`` mapped to the written paths.

        Notes
        -----
        Expression files are genes x samples with a first column ``gene`` (the orientation of GEO and GDC
        downloads); the other tables are long TSVs with the columns of the in-memory tables; gene sets are GMT.
        Floats are written with fixed precision, so the same seed gives byte-identical files.
        """
        root = Path(folder)
        paths = {key: root / name for key, name in _FILES.items()}
        _write_tsv(_genes_by_samples(self.organoid_expression), paths["organoid_expression"])
        _write_tsv(self.organoid_response, paths["organoid_response"])
        _write_tsv(self.network, paths["network"])
        pathways = self.gene_sets["pathway"].unique()
        write_gmt(self.gene_sets, paths["gene_sets"], descriptions=dict.fromkeys(pathways, "synthetic"))
        _write_tsv(self.targets, paths["targets"])
        _write_tsv(_genes_by_samples(self.patient_expression), paths["patient_expression"])
        _write_tsv(self.clinical, paths["clinical"])
        _write_tsv(self.truth, paths["truth"])
        with atomic_write(paths["config"], newline="\n", encoding="utf-8") as handle:
            handle.write(_config_text(self, paths, settings or {}))
        return paths


# --------------------------------------------------------------------------------------------------- writers
def _genes_by_samples(expression: pd.DataFrame) -> pd.DataFrame:
    out = expression.T
    out.index.name = "gene"
    return out.reset_index()


def _write_tsv(table: pd.DataFrame, path: Path) -> None:
    write_tsv(table, path, float_format="%.4f")  # the planted truth is defined on these rounded values


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml(sections: dict[str, dict[str, Any]]) -> str:
    """Serialise a flat ``{section: {key: scalar or list}}`` mapping as TOML."""
    blocks = []
    for section, values in sections.items():
        body = "\n".join(f"{key} = {_toml_value(value)}" for key, value in values.items())
        blocks.append(f"[{section}]\n{body}\n")
    return "\n".join(blocks)


def _config_text(cohort: SyntheticCohort, paths: dict[str, Path], settings: dict[str, Any]) -> str:
    seed = cohort.params.get("random_state")
    sections: dict[str, dict[str, Any]] = {
        "preclinical": {
            "expression": paths["organoid_expression"].name,
            "response": paths["organoid_response"].name,
            "metric": "IC50",
            "lower_is_sensitive": True,
        },
        "network": {"edges": paths["network"].name, "min_score": _SCORE_CUT},
        "pathways": {"gene_sets": paths["gene_sets"].name},
        "drugs": {"targets": paths["targets"].name, "names": cohort.drugs},
        "patients": {
            "expression": paths["patient_expression"].name,
            "clinical": paths["clinical"].name,
            "response_col": "response",
            "time_unit": "days",
            "covariates": ["age", "stage"],
        },
        "settings": {
            "n_random": 1000,
            "seed": seed if isinstance(seed, int) else 0,
            "model": "ridge",
            "top_k": 10,
            "n_permutations": 1000,
            **settings,
        },
        # 'organoidrx compare': every scorer and network measure; ridge is solved for all random sets at once
        "compare": {"models": ["ridge"], "n_random_sets": 1000},
    }
    header = "# organoidrx run configuration for a synthetic cohort; paths are relative to this file.\n\n"
    return header + _toml(sections)


# --------------------------------------------------------------------------------------------------- generator
def make_synthetic_cohort(
    *,
    n_genes: int = 2000,
    n_pathways: int = 120,
    n_organoids: int = 30,
    n_patients_treated: int = 200,
    n_patients_untreated: int = 200,
    drugs: Sequence[str] = ("DRUG_A", "DRUG_B"),
    effect: float = 1.0,
    patient_effect: float = 1.0,
    random_state: int | np.random.Generator | None = 0,
) -> SyntheticCohort:
    r"""Make a synthetic organoid-to-patient cohort with a planted, network-proximal drug-response signal.

    Parameters
    ----------
    n_genes : int, default=2000
        Genes (``G0001``...), all present in the network, both expression matrices and mostly in pathways.
    n_pathways : int, default=120
        Pathways (``PATHWAY_001``...) of 10..100 genes.
    n_organoids : int, default=30
        Organoids (``ORG001``...) with expression and a log IC50 for every drug.
    n_patients_treated : int, default=200
        Treated patients in total, split as evenly as possible across ``drugs``.
    n_patients_untreated : int, default=200
        Untreated patients, whose survival does not depend on the planted pathways.
    drugs : sequence of str, default=("DRUG_A", "DRUG_B")
        Drug names; each drug's targets sit in its own network community.
    effect : float, default=1.0
        Strength of the organoid link between planted pathway activity and log IC50; 0 gives a null cohort.
    patient_effect : float, default=1.0
        Strength of the patient link (hazard and RECIST response of treated patients); 0 gives a null cohort.
    random_state : int, numpy Generator or None, default=0
        Seed. The same seed gives identical tables (and byte-identical files from :meth:`SyntheticCohort.write`).
        The network, pathways, targets, latent activities and noise are drawn from independent streams, so
        changing ``effect`` or ``patient_effect`` leaves everything but the linked outcomes unchanged.

    Returns
    -------
    SyntheticCohort

    Raises
    ------
    InputError
        On sizes too small to build communities and pathways, repeated or blank drug names, or a non-finite
        effect.

    Notes
    -----
    **Network.** Genes fall into :math:`K \approx` ``n_pathways / 6`` communities. Edges follow a degree-corrected
    planted-partition model: :math:`P(i \sim j) = \min(1, \theta_i \theta_j B_{c_i c_j})` with log-normal
    propensities :math:`\theta` (mean 1; hubs reach ~10x the median degree, so degree-matched randomisation
    matters) and :math:`B` giving an expected 9 within-community and 2 between-community neighbours at
    :math:`\theta = 1`. True edges score 701..999 (8% of them 400..700); spurious edges (30% as many) score
    150..700, so a ``score > 700`` filter removes noise. Stray components of the ``> 700`` graph are joined to
    the largest one with one high-score edge each, so that graph is connected.

    **Pathways.** Each pathway has a home community; 85% of its genes come from there (unused genes first, so
    pathways overlap a little) and 15% from anywhere. Sizes are :math:`10 e^{X}`, :math:`X \sim
    \mathrm{Exp}(\text{scale}=0.5)`, clipped to 10..100.

    **Targets and truth.** Each drug :math:`d` has 3-5 targets in its own community :math:`c_d`. Pathways whose
    home is :math:`c_d` are *proximal*; up to four of them (those of at least 15 genes first) are the planted set
    :math:`P_d` with weights
    :math:`w_p \propto u_p,\ u_p \sim U(0.5, 1)`, scaled so that :math:`S_d = \sum_{p \in P_d} w_p A_p` has unit
    variance.

    **Latent activities and expression.** Pathway activities :math:`A` (samples x pathways) are standard normal
    with correlation 0.3 between pathways of one community. Gene :math:`g` in sample :math:`s` is

    .. math:: x_{sg} = \mu_g + \sigma_g \frac{\sum_{p \ni g} \lambda_{gp} A_{sp} + \varepsilon_{sg}}
              {\sqrt{\sum_{p \ni g} \lambda_{gp}^2 + 1}},\quad \lambda_{gp} \sim U(0.4, 0.9),

    with :math:`\mu_g \approx 7.5` and :math:`\sigma_g \approx 0.5` (log2 microarray) in organoids and
    :math:`\mu'_g = 1.15 \mu_g - 0.5 + N(0, 0.6^2)`, :math:`\sigma'_g = 1.4 \sigma_g` plus a per-sample offset in
    patients; the values written are :math:`\log_2(2^{x} + 1)`, which keeps them positive like a
    :math:`\log_2(\text{intensity} + 1)` transform.

    **Organoid response** (natural-log IC50, lower = more sensitive):

    .. math:: \log \mathrm{IC50}_{sd} = b_d - \mathrm{effect} \cdot S_{sd} + 0.5\, \varepsilon_{sd}.

    **Patients.** Treated patients are split evenly across drugs. With covariates
    :math:`\eta^{cov} = 0.02 (\mathrm{age} - 65) + 0.35 (\mathrm{stage} - 2.5)` and frailty
    :math:`\nu \sim N(0, 0.3^2)`, the log-hazard of a patient treated with :math:`d` is

    .. math:: \eta = -\mathrm{patient\_effect} \cdot S_{d} + \eta^{cov} + \nu,

    so patients whose tumours look sensitive live longer; untreated patients have
    :math:`\eta = 0.2 + \eta^{cov} + \nu` (no dependence on any :math:`S_d`: the signature is predictive, not
    prognostic). Event times are Weibull, :math:`T = 1200 (-\log U / e^{\eta})^{1/1.3}` days; censoring times are
    :math:`U(0, 3650)` days; ``time`` is the ceiling of the earlier one. A random 70% of treated patients have a
    RECIST-like response, the ordinal probit :math:`r = \mathrm{patient\_effect} \cdot S_d - \eta^{cov} +
    N(0, 1)` cut at the points giving 30% PD, 35% SD, 25% PR and 10% CR when ``patient_effect = 0``.

    References
    ----------
    Kong J. et al. (2020) Network-based machine learning in colorectal and bladder organoid models predicts
    anti-cancer drug efficacy in patients. Nat Commun 11:5485. doi:10.1038/s41467-020-19313-8

    Guney E. et al. (2016) Network-based in silico drug efficacy screening. Nat Commun 7:10331.
    doi:10.1038/ncomms10331

    Karrer B. & Newman M. E. J. (2011) Stochastic blockmodels and community structure in networks. Phys Rev E
    83:016107. doi:10.1103/PhysRevE.83.016107

    Examples
    --------
    >>> cohort = make_synthetic_cohort(n_genes=300, n_pathways=24, n_organoids=12,
    ...                                n_patients_treated=40, n_patients_untreated=20, random_state=1)
    >>> cohort.organoid_expression.shape
    (12, 300)
    >>> sorted(cohort.organoid_response["drug"].unique())
    ['DRUG_A', 'DRUG_B']
    """
    drug_names = _check_arguments(
        n_genes=n_genes,
        n_pathways=n_pathways,
        n_organoids=n_organoids,
        n_patients_treated=n_patients_treated,
        n_patients_untreated=n_patients_untreated,
        drugs=drugs,
        effect=effect,
        patient_effect=patient_effect,
    )
    rng = check_random_state(random_state)
    rng_layout, rng_network, rng_targets, rng_expression, rng_organoid, rng_patient = rng.spawn(6)

    n_communities = max(len(drug_names) + 1, round(n_pathways / _PATHWAYS_PER_COMMUNITY))
    layout = _layout(n_genes, n_pathways, n_communities, rng_layout)
    edges = _network(layout["community"], rng_network)
    targets, truth = _targets_and_truth(layout, drug_names, n_communities, rng_targets)
    model = _ExpressionModel.draw(layout, n_genes, rng_expression)

    gene_names = _names("G", n_genes, 4)
    pathway_names = _names("PATHWAY_", n_pathways, 3)
    organoid_names = _names("ORG", n_organoids, 3)
    n_patients = n_patients_treated + n_patients_untreated
    patient_names = _names("PT", n_patients, 4)

    # Organoids: activities, expression, response.
    activities = model.activities(n_organoids, rng_organoid)
    organoid_activities = pd.DataFrame(activities, index=organoid_names, columns=pathway_names)
    organoid_expression = pd.DataFrame(
        model.expression(activities, rng_organoid, patient=False), index=organoid_names, columns=gene_names
    )
    weights = {d: truth[d] for d in drug_names}
    scores = {d: activities[:, list(w)] @ np.array(list(w.values())) for d, w in weights.items()}
    base = rng_organoid.normal(0.0, 1.0, size=len(drug_names))
    rows = []
    for k, drug in enumerate(drug_names):
        noise = rng_organoid.normal(size=n_organoids)
        value = base[k] - effect * scores[drug] + _NOISE_ORGANOID * noise
        rows.append(pd.DataFrame({"sample": organoid_names, "drug": drug, "value": value}))
    organoid_response = pd.concat(rows, ignore_index=True)
    organoid_response.attrs.update({"metric": "IC50", "lower_is_sensitive": True})

    # Patients.
    activities = model.activities(n_patients, rng_patient)
    patient_activities = pd.DataFrame(activities, index=patient_names, columns=pathway_names)
    patient_expression = pd.DataFrame(
        model.expression(activities, rng_patient, patient=True), index=patient_names, columns=gene_names
    )
    clinical = _clinical(activities, weights, drug_names, n_patients_treated, patient_effect, rng_patient)
    clinical.insert(0, "patient", pd.Series(patient_names, dtype=object))

    network = pd.DataFrame(
        {
            "gene_a": np.asarray(gene_names)[edges[:, 0]],
            "gene_b": np.asarray(gene_names)[edges[:, 1]],
            "score": edges[:, 2].astype(np.int64),
        }
    )
    gene_sets = pd.DataFrame(
        [(pathway_names[p], gene_names[g]) for p, genes in enumerate(layout["members"]) for g in genes],
        columns=["pathway", "gene"],
    )
    targets_table = pd.DataFrame(
        [(d, gene_names[g]) for d in drug_names for g in targets[d]], columns=["drug", "target"]
    )
    truth_rows = [
        (d, pathway_names[p], bool(layout["home"][p] == layout["drug_community"][d]), truth[d].get(p, 0.0))
        for d in drug_names
        for p in range(n_pathways)
    ]
    truth_table = pd.DataFrame(truth_rows, columns=["drug", "pathway", "proximal", "weight"])

    params = {
        "n_genes": n_genes,
        "n_pathways": n_pathways,
        "n_organoids": n_organoids,
        "n_patients_treated": n_patients_treated,
        "n_patients_untreated": n_patients_untreated,
        "drugs": tuple(drug_names),
        "effect": effect,
        "patient_effect": patient_effect,
        "random_state": random_state if not isinstance(random_state, np.random.Generator) else "generator",
    }
    return SyntheticCohort(
        network=network,
        gene_sets=gene_sets,
        targets=targets_table,
        organoid_expression=organoid_expression,
        organoid_response=organoid_response,
        patient_expression=patient_expression,
        clinical=clinical,
        organoid_activities=organoid_activities,
        patient_activities=patient_activities,
        truth=truth_table,
        params=params,
    )


def _check_arguments(
    *,
    n_genes: int,
    n_pathways: int,
    n_organoids: int,
    n_patients_treated: int,
    n_patients_untreated: int,
    drugs: Sequence[str],
    effect: float,
    patient_effect: float,
) -> list[str]:
    counts = {
        "n_pathways": (n_pathways, 6),
        "n_genes": (n_genes, max(100, 8 * n_pathways if isinstance(n_pathways, int) else 0)),
        "n_organoids": (n_organoids, 3),
        "n_patients_treated": (n_patients_treated, 0),
        "n_patients_untreated": (n_patients_untreated, 0),
    }
    for name, (value, minimum) in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
            hint = " (8 per pathway)" if name == "n_genes" else ""
            raise InputError(f"{name} must be an integer >= {minimum}{hint}; got {value!r}.")
    if isinstance(drugs, str):
        raise InputError(f"drugs must be a sequence of names such as ('DRUG_A', 'DRUG_B'); got {drugs!r}.")
    names = list(drugs)
    bad = [d for d in names if not isinstance(d, str) or not d.strip() or d != d.strip() or "\t" in d]
    if not names or bad:
        raise InputError(
            f"drugs must be non-empty names without surrounding spaces or tabs; got {names!r}"
            f"{' (bad: ' + repr(bad) + ')' if bad else ''}."
        )
    if len(set(names)) != len(names):
        repeated = sorted({d for d in names if names.count(d) > 1})
        raise InputError(f"drugs must be distinct; {repeated} appear more than once.")
    if len(names) > n_pathways // _PATHWAYS_PER_COMMUNITY:
        raise InputError(
            f"{len(names)} drugs need at least {(len(names) + 1) * _PATHWAYS_PER_COMMUNITY} pathways "
            f"(one community of ~{_PATHWAYS_PER_COMMUNITY} per drug plus others); got n_pathways={n_pathways}."
        )
    if n_patients_treated and n_patients_treated < len(names):
        raise InputError(
            f"n_patients_treated={n_patients_treated} is fewer than the {len(names)} drugs; give at least one "
            "patient per drug or 0."
        )
    for label, strength in (("effect", effect), ("patient_effect", patient_effect)):
        if isinstance(strength, bool) or not isinstance(strength, int | float) or not math.isfinite(strength):
            raise InputError(f"{label} must be a finite number (0 gives a null cohort); got {strength!r}.")
    return names


def _names(prefix: str, n: int, width: int) -> list[str]:
    width = max(width, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def _layout(n_genes: int, n_pathways: int, n_communities: int, rng: np.random.Generator) -> dict[str, Any]:
    """Communities of genes and pathways with their member genes (integer indices)."""
    sizes = np.clip(
        np.round(_MIN_SIZE * np.exp(rng.exponential(_SIZE_SCALE, n_pathways))), _MIN_SIZE, _MAX_SIZE
    ).astype(int)
    home = rng.permutation(np.arange(n_pathways) % n_communities)
    core = np.round(_CORE_SHARE * sizes).astype(int)
    demand = np.bincount(home, weights=core, minlength=n_communities)
    # Community sizes proportional to their pathways' core genes (at least 1.1x the largest core).
    share = demand / demand.sum()
    community_size = np.maximum(np.floor(share * n_genes).astype(int), 10)
    community_size[np.argmax(community_size)] += n_genes - community_size.sum()
    community = rng.permutation(np.repeat(np.arange(n_communities), community_size))
    genes_of = [np.flatnonzero(community == c) for c in range(n_communities)]

    members: list[np.ndarray] = [np.empty(0, dtype=int)] * n_pathways
    used = np.zeros(n_genes, dtype=int)
    for p in rng.permutation(n_pathways):
        pool = genes_of[home[p]]
        n_core = min(core[p], int(0.8 * len(pool)))
        # Prefer genes that no pathway uses yet, so pathways overlap only a little.
        order = pool[np.lexsort((rng.random(len(pool)), used[pool]))]
        chosen = order[:n_core]
        outside = np.setdiff1d(np.arange(n_genes), pool, assume_unique=True)
        extra = rng.choice(outside, size=min(sizes[p] - n_core, len(outside)), replace=False)
        genes = np.sort(np.concatenate([chosen, extra]))
        used[genes] += 1
        members[p] = genes
    return {"community": community, "home": home, "members": members, "genes_of": genes_of}


def _network(community: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Edges ``(i, j, score)`` with ``i < j``, sorted; the ``score > 700`` graph is connected."""
    n = len(community)
    n_communities = int(community.max()) + 1
    theta = rng.lognormal(0.0, _PROPENSITY_SD, n)
    theta /= theta.mean()
    community_size = np.bincount(community, minlength=n_communities)
    p_in = _DEGREE_IN / np.maximum(community_size - 1, 1)
    p_out = _DEGREE_OUT / max(n - community_size.mean(), 1)

    pairs = []
    block = 512
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        same = community[rows, None] == community[None, :]
        base = np.where(same, p_in[community[rows]][:, None], p_out)
        prob = np.minimum(1.0, theta[rows, None] * theta[None, :] * base)
        hit = rng.random(prob.shape) < prob
        hit &= np.arange(n)[None, :] > rows[:, None]
        i, j = np.nonzero(hit)
        pairs.append(np.column_stack([rows[i], j]))
    true_edges = np.concatenate(pairs)
    n_true = len(true_edges)
    low = rng.random(n_true) < _LOW_SCORE_TRUE
    scores = np.where(
        low, rng.integers(400, _SCORE_CUT + 1, n_true), rng.integers(_SCORE_CUT + 1, 1000, n_true)
    )

    # Join stray components of the high-confidence graph to the largest one.
    strong = true_edges[scores > _SCORE_CUT]
    adjacency = sparse.coo_matrix((np.ones(len(strong)), (strong[:, 0], strong[:, 1])), shape=(n, n))
    n_components, labels = csgraph.connected_components(adjacency, directed=False)
    bridges: list[tuple[int, int, int]] = []
    if n_components > 1:
        largest = np.argmax(np.bincount(labels))
        in_largest = labels == largest
        for comp in range(n_components):
            if comp == largest:
                continue
            nodes = np.flatnonzero(labels == comp)
            u = nodes[np.argmax(theta[nodes])]
            candidates = np.flatnonzero(in_largest & (community == community[u]))
            if len(candidates) == 0:
                candidates = np.flatnonzero(in_largest)
            v = rng.choice(candidates, p=theta[candidates] / theta[candidates].sum())
            bridges.append((int(min(u, v)), int(max(u, v)), int(rng.integers(_SCORE_CUT + 1, 1000))))

    # Spurious low-confidence edges between random genes.
    existing = set(map(tuple, true_edges.tolist())) | {(a, b) for a, b, _ in bridges}
    n_noise = round(_NOISE_EDGES * n_true)
    noise: list[tuple[int, int, int]] = []
    while len(noise) < n_noise:
        a, b = rng.integers(0, n, 2)
        key = (int(min(a, b)), int(max(a, b)))
        if a != b and key not in existing:
            existing.add(key)
            noise.append((key[0], key[1], int(rng.integers(150, _SCORE_CUT + 1))))

    edges = np.concatenate(
        [
            np.column_stack([true_edges, scores]),
            np.asarray(bridges, dtype=np.int64).reshape(-1, 3),
            np.asarray(noise, dtype=np.int64).reshape(-1, 3),
        ]
    ).astype(np.int64)
    # A bridge may duplicate a low-score true edge: keep each pair once, with its highest score.
    edges = edges[np.lexsort((-edges[:, 2], edges[:, 1], edges[:, 0]))]
    first = np.ones(len(edges), dtype=bool)
    first[1:] = (edges[1:, 0] != edges[:-1, 0]) | (edges[1:, 1] != edges[:-1, 1])
    return edges[first]


def _targets_and_truth(
    layout: dict[str, Any], drugs: list[str], n_communities: int, rng: np.random.Generator
) -> tuple[dict[str, list[int]], dict[str, dict[int, float]]]:
    """Targets in one community per drug, and the planted pathway weights ``{drug: {pathway: w}}``."""
    home = layout["home"]
    chosen = rng.choice(n_communities, size=len(drugs), replace=False)
    layout["drug_community"] = dict(zip(drugs, chosen.tolist(), strict=True))
    targets: dict[str, list[int]] = {}
    truth: dict[str, dict[int, float]] = {}
    for drug, comm in zip(drugs, chosen, strict=True):
        pool = layout["genes_of"][comm]
        n_targets = int(rng.integers(_TARGETS_PER_DRUG[0], _TARGETS_PER_DRUG[1] + 1))
        targets[drug] = sorted(rng.choice(pool, size=min(n_targets, len(pool)), replace=False).tolist())
        proximal = np.flatnonzero(home == comm)
        # Drivers have >= 15 genes where possible, so they survive the usual ssGSEA min_size of 15.
        small = np.array([len(layout["members"][p]) < 15 for p in proximal])
        proximal = proximal[np.lexsort((rng.random(len(proximal)), small))]
        planted = proximal[: min(_N_PLANTED, len(proximal))]
        raw = rng.uniform(0.5, 1.0, size=len(planted))
        # Scale so that S = sum w_p A_p has unit variance under the community correlation.
        k = len(raw)
        cov = _COMMUNITY_CORRELATION * np.ones((k, k)) + (1 - _COMMUNITY_CORRELATION) * np.eye(k)
        raw /= math.sqrt(float(raw @ cov @ raw))
        # Rounded as written to truth.tsv, so the file reproduces the outcomes exactly.
        truth[drug] = {int(p): round(float(w), 4) for p, w in zip(planted, raw, strict=True)}
    return targets, truth


@dataclass(frozen=True)
class _ExpressionModel:
    """Pathway loadings and gene locations/scales shared by organoids and patients."""

    home: np.ndarray  # (n_pathways,)
    loadings: sparse.csr_matrix  # (n_pathways, n_genes)
    norm: np.ndarray  # (n_genes,)
    mu: np.ndarray
    sigma: np.ndarray
    mu_patient: np.ndarray
    sigma_patient: np.ndarray

    @classmethod
    def draw(cls, layout: dict[str, Any], n_genes: int, rng: np.random.Generator) -> _ExpressionModel:
        members = layout["members"]
        rows = np.repeat(np.arange(len(members)), [len(m) for m in members])
        cols = np.concatenate(members)
        values = rng.uniform(*_LOADING, size=len(cols))
        loadings = sparse.csr_matrix((values, (rows, cols)), shape=(len(members), n_genes))
        norm_ = np.sqrt(np.asarray(loadings.multiply(loadings).sum(axis=0)).ravel() + 1.0)
        mu = np.clip(rng.normal(7.5, 1.8, n_genes), 2.5, 14.0)
        sigma = np.exp(rng.normal(math.log(0.5), 0.35, n_genes))
        mu_patient = 1.15 * mu - 0.5 + rng.normal(0.0, 0.6, n_genes)
        sigma_patient = 1.4 * sigma
        return cls(layout["home"], loadings, norm_, mu, sigma, mu_patient, sigma_patient)

    def activities(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Latent activities (n_samples, n_pathways): unit variance, correlation 0.3 within a community."""
        n_communities = int(self.home.max()) + 1
        shared = rng.normal(size=(n_samples, n_communities))
        own = rng.normal(size=(n_samples, len(self.home)))
        rho = _COMMUNITY_CORRELATION
        return math.sqrt(rho) * shared[:, self.home] + math.sqrt(1 - rho) * own

    def expression(self, activities: np.ndarray, rng: np.random.Generator, *, patient: bool) -> np.ndarray:
        signal = np.asarray(self.loadings.T.dot(activities.T)).T
        z = (signal + rng.normal(size=signal.shape)) / self.norm
        if patient:
            offset = rng.normal(0.0, 0.15, size=(len(activities), 1))
            values = self.mu_patient + self.sigma_patient * z + offset
        else:
            values = self.mu + self.sigma * z
        # log2(2^x + 1): the values a log2(intensity + 1) transform gives; positive, ~x above 4.
        return np.logaddexp2(values, 0.0)


def _clinical(
    activities: np.ndarray,
    weights: dict[str, dict[int, float]],
    drugs: list[str],
    n_treated: int,
    patient_effect: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Clinical table (without the patient column) for treated patients first, then untreated ones."""
    n = len(activities)
    per_drug = [n_treated // len(drugs) + (k < n_treated % len(drugs)) for k in range(len(drugs))]
    drug_of = np.array(
        [d for d, m in zip(drugs, per_drug, strict=True) for _ in range(m)] + [""] * (n - n_treated)
    )
    age = np.clip(np.round(rng.normal(65.0, 10.0, n)), 30, 90).astype(int)
    stage = rng.choice(np.arange(1, 5), size=n, p=_STAGE_PROBS)
    eta_cov = _AGE_COEF * (age - 65.0) + _STAGE_COEF * (stage - 2.5)
    frailty = rng.normal(0.0, _FRAILTY_SD, n)

    score = np.zeros(n)
    for drug in drugs:
        rows = drug_of == drug
        w = weights[drug]
        score[rows] = activities[np.ix_(rows, list(w))] @ np.array(list(w.values()))
    treated = drug_of != ""
    eta = np.where(treated, -_BETA * patient_effect * score, _UNTREATED_SHIFT) + eta_cov + frailty

    u = 1.0 - rng.random(n)  # in (0, 1]
    event_time = _WEIBULL_SCALE * (-np.log(u) / np.exp(eta)) ** (1.0 / _WEIBULL_SHAPE)
    censor_time = rng.uniform(0.0, _CENSOR_MAX, n)
    event = (event_time <= censor_time).astype(int)
    time = np.maximum(np.ceil(np.minimum(event_time, censor_time)), 1).astype(int)

    latent = _BETA * patient_effect * score - eta_cov + rng.normal(size=n)
    cuts = norm.ppf(np.cumsum(_RECIST_NULL_SHARES)[:-1]) * _null_latent_sd()
    level = np.searchsorted(cuts, latent)
    has_response = treated & (rng.random(n) < _RECIST_SHARE)
    response = pd.Series(np.asarray(_RECIST_LEVELS, dtype=object)[level], dtype=object).where(has_response)

    return pd.DataFrame(
        {
            "time": time,
            "event": event,
            "drug": pd.Series(drug_of, dtype=object).where(treated),
            "response": response,
            "age": age,
            "stage": stage.astype(int),
        }
    )


def _null_latent_sd() -> float:
    """Standard deviation of the RECIST latent variable when ``patient_effect = 0``."""
    stage_values = np.arange(1, 5)
    probs = np.asarray(_STAGE_PROBS)
    stage_var = float(probs @ (stage_values - probs @ stage_values) ** 2)
    return math.sqrt(1.0 + (_AGE_COEF * 10.0) ** 2 + _STAGE_COEF**2 * stage_var)
