"""The comparison's leaderboard: every test ranked by p, Benjamini-Hochberg q over all of them, and the
combinations' counts of drugs beating random sets, with the sentences that say what survived the correction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from organoidrx._utils import examples
from organoidrx.evaluation import bh_qvalues, smallest_rejectable_p
from organoidrx.evaluation._multiple import n_tests_needed_at, random_sets_for_one_finding

__all__ = ["LEVEL", "CompareResult", "rank_tests"]

#: the level of the q-values and of the counts in the summary
LEVEL = 0.05
_LEADERBOARD = [
    "rank", "scorer", "selection", "model", "drug", "n_features", "n_organoids", "spearman", "random_median",
    "random_q975", "n_random", "random_p", "n_shuffles", "shuffled_p", "p", "q",
]  # fmt: skip


@dataclass
class CompareResult:
    """What :func:`compare_methods` found.

    Attributes
    ----------
    leaderboard : DataFrame
        One row per scorer x selection x model x drug, ranked by p (``rank`` 1 = smallest): ``n_features``,
        ``n_organoids``, the cross-validated ``spearman``, the ``random_median`` and ``random_q975`` of the
        ``n_random`` random sets fitted, their empirical ``random_p`` (:math:`(1 + \\#\\{r_b \\ge r\\}) / (1 + B)`,
        or :math:`h / L` when ``stop_after`` = :math:`h` sets reached :math:`r` at the :math:`L`-th), the same
        ``shuffled_p`` against ``n_shuffles`` refits of the selection with the responses permuted, the
        test's ``p`` (the larger of the two) and the Benjamini-Hochberg ``q`` over every test of the comparison
        that has a p. ``all_pathways`` and ``all_genes`` rows have no random sets (they hold every pathway or
        gene), so no p; neither has a test whose selection or random sets give
        no Spearman (constant predictions), and such rows are not counted among the tests.
    combinations : DataFrame
        One row per scorer x selection x model: drugs tested, median Spearman and its median excess over the
        random sets, drugs with p < 0.05 against the ``expected`` number under the null, the binomial p of that
        count, its Benjamini-Hochberg q over combinations, and drugs with q < 0.05.
    n_tests : int
        Tests counted in the q-values.
    n_random_sets : int
        The most random sets fitted per test.
    stop_after : int or None
        Random sets reaching the selection's Spearman after which a test stops (None: every test fits all).
    warnings : list of str
    timings : dict of str to float
    out_dir : Path or None
    """

    leaderboard: pd.DataFrame
    combinations: pd.DataFrame
    n_tests: int
    n_random_sets: int
    stop_after: int | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    out_dir: Path | None = None

    def summary(self) -> list[str]:
        """Plain sentences: how many tests, what the null allows, what survived the correction."""
        board = self.leaderboard
        tested = board[board["p"].notna()]
        keys = ["scorer", "selection", "model"]
        n_tested = tested[keys].drop_duplicates().shape[0]
        untested = (
            board[keys].drop_duplicates().merge(tested[keys].drop_duplicates(), how="left", indicator=True)
        )
        untested = untested[untested["_merge"] == "left_only"]
        fixed = untested["selection"].isin(["all_pathways", "all_genes"])  # baselines without random sets
        n_baselines = int(fixed.sum())
        empty = [" / ".join(map(str, r)) for r in untested.loc[~fixed, keys].itertuples(index=False)]
        lines = [
            f"{self.n_tests} tests: {n_tested} combinations x up to {board['drug'].nunique()} drugs (a drug with "
            f"nothing selected is not tested), each against "
            + (
                f"up to {self.n_random_sets} random sets of its own size and as many shuffles of the "
                f"responses, each stopping once {self.stop_after} do at least as well (median "
                f"{int(tested['n_random'].median()) if len(tested) else 0} and "
                f"{int(tested['n_shuffles'].median()) if len(tested) else 0} fitted; "
                if self.stop_after
                else f"{self.n_random_sets} random sets of its own size and as many shuffles of the responses ("
            )
            + f"smallest attainable p {1 / (self.n_random_sets + 1):.2g}). A test's p is the larger of the two: "
            "it must beat both random sets and chance"
            + (
                f"; {n_baselines} baseline combinations without random sets are ranked beside them."
                if n_baselines
                else "."
            )
            + (
                f" {len(empty)} combinations selected nothing for any drug and have no test ({examples(empty, 3)})."
                if empty
                else ""
            )
        ]
        needed = smallest_rejectable_p(self.n_tests, LEVEL)
        floor = 1 / (self.n_random_sets + 1)
        enough = f"set [compare] n_random_sets to at least {random_sets_for_one_finding(self.n_tests, LEVEL)}"
        if floor >= LEVEL:
            lines.append(
                f"The smallest p the null can give, {floor:.2g}, is not below {LEVEL:g}: no test can reach "
                f"q < {LEVEL:g}. For a single test to be able to, {enough} (or compare fewer combinations)."
            )
        elif self.n_random_sets < random_sets_for_one_finding(self.n_tests, LEVEL):
            lines.append(
                f"With {self.n_tests} tests, a single test needs p < {needed:.2g} for q < {LEVEL:g}, not below "
                f"the smallest p the null can give ({floor:.2g}): a test reaches q < {LEVEL:g} only together with "
                f"at least {n_tests_needed_at(floor, self.n_tests, LEVEL) - 1} others as small. For a single test to "
                f"be able to, {enough} (or compare fewer combinations)."
            )
        n_sig = int((tested["q"] < LEVEL).sum())
        raw = int((tested["p"] < LEVEL).sum())
        lines.append(
            f"{raw} tests have p < {LEVEL:g} ({LEVEL * len(tested):.1f} expected if no combination carried signal); "
            f"{n_sig} have q < {LEVEL:g} after correcting for all {self.n_tests}."
        )
        if len(tested):
            best = tested.sort_values(["p", "rank"]).iloc[0]
            lines.append(
                f"The smallest p, {best['p']:.2g} ({best['scorer']} / {best['selection']} / {best['model']}, "
                f"{best['drug']}), has q = {best['q']:.2g}: "
                + (
                    "it survives the correction."
                    if best["q"] < LEVEL
                    else "the best of many p-values, not a finding."
                )
            )
        return lines


def rank_tests(table: pd.DataFrame, n_random: int, stop_after: int | None = None) -> CompareResult:
    board = pd.DataFrame(
        {
            "scorer": table["scorer"],
            "selection": table["selection"],
            "model": table["model"],
            "drug": table["drug"],
            "n_features": table["n_features"],
            "n_organoids": table["n_samples"],
            "spearman": table["spearman"],
            "random_median": table["random_spearman_median"],
            "random_q975": table["random_spearman_q975"],
            "n_random": table["n_random"],
            "random_p": table["random_p"].where(table["n_random"] > 0),
            "n_shuffles": table["n_shuffles"],
            "shuffled_p": table["shuffled_p"].where(table["n_shuffles"] > 0),
        }
    )
    # beating random sets and beating chance: the larger p (NaN when either is missing)
    board["p"] = np.fmax(board["random_p"], board["shuffled_p"]).where(
        board["random_p"].notna() & board["shuffled_p"].notna()
    )
    board["q"] = bh_qvalues(board["p"].to_numpy())
    board = board.sort_values(
        ["p", "spearman", "scorer", "selection", "model", "drug"],
        ascending=[True, False, True, True, True, True],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    n_tests = int(board["p"].notna().sum())
    rows = []
    for (scorer, selection, model), group in board.groupby(["scorer", "selection", "model"], sort=False):
        tested = group[group["p"].notna()]
        k, n = int((tested["p"] < LEVEL).sum()), len(tested)
        rows.append(
            {
                "scorer": scorer,
                "selection": selection,
                "model": model,
                "n_drugs": len(group),
                "median_spearman": _median(group["spearman"]),
                "median_excess": _median(group["spearman"] - group["random_median"]) if n else np.nan,
                "n_p05": k,
                "expected_p05": LEVEL * n,
                "binomial_p": float(stats.binom.sf(k - 1, n, LEVEL)) if n else np.nan,
                "n_q05": int((tested["q"] < LEVEL).sum()),
            }
        )
    combinations = pd.DataFrame(rows)
    combinations.insert(
        combinations.columns.get_loc("n_q05"), "binomial_q", bh_qvalues(combinations["binomial_p"])
    )
    combinations = combinations.sort_values(
        ["binomial_p", "median_excess"], ascending=[True, False], na_position="last", kind="stable"
    ).reset_index(drop=True)
    return CompareResult(board.loc[:, _LEADERBOARD], combinations, n_tests, n_random, stop_after)


def _median(values: pd.Series) -> float:
    """The median of the finite values; NaN (without numpy's empty-slice warning) when there are none, as for a
    selection that chose no pathway for any drug."""
    finite = values[np.isfinite(values.to_numpy(dtype=float))]
    return float(finite.median()) if len(finite) else np.nan
