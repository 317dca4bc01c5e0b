"""The method registries: one registration makes a method usable everywhere; the CLI and config read them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import organoidrx
from organoidrx import InputError, Method, Option, get_method, list_methods, method_names, register
from organoidrx._registry import KINDS, REGISTRIES
from organoidrx.cli import build_parser, main
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.pipeline import read_config, run_pipeline
from organoidrx.pipeline._config import SCHEMA


# ------------------------------------------------------------------------------------------- toy methods
def _mean_difference(data, *, shift: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Mean expression of a set's genes minus the sample's mean, plus ``shift``."""
    sizes = np.diff(data.membership.indptr)
    in_set = np.asarray(data.membership @ data.values.T).T / sizes
    return in_set - data.values.mean(axis=1, keepdims=True) + shift


def _closest_squared(view):  # type: ignore[no-untyped-def]
    """Mean over targets of the squared distance to the nearest pathway gene."""
    per_slot = view.nearest_gene().astype(np.int64) ** 2 * view.target_weight
    num = view.sum_over_targets(per_slot)
    return num, np.broadcast_to(view.n_targets, num.shape)


@pytest.fixture()
def toy_methods() -> Iterator[None]:
    register(
        Method(
            kind="scorer",
            name="toy_mean",
            summary="mean of the set's genes minus the sample mean",
            reference="none",
            func=_mean_difference,
            options=(Option("shift", 0.0, float, "added to every score"),),
        )
    )
    register(
        Method(
            kind="measure",
            name="toy_closest_squared",
            summary="mean squared closest distance",
            reference="none",
            func=_closest_squared,
            deterministic=False,
        )
    )
    yield
    REGISTRIES["scorer"].unregister("toy_mean")
    REGISTRIES["measure"].unregister("toy_closest_squared")


def test_one_registration_is_enough_for_run_pipeline(toy_methods: None, tmp_path: Path) -> None:
    paths = make_synthetic_cohort(random_state=0).write(tmp_path / "cohort")
    text = paths["config"].read_text()
    text = text.replace("[settings]\n", '[settings]\nscorer = "toy_mean"\nmeasure = "toy_closest_squared"\n')
    config = paths["config"].with_name("toy.toml")
    config.write_text(text + "\n[scorer]\nshift = 1.5\n")
    assert read_config(config).options("scorer") == {"shift": 1.5}
    result = run_pipeline(config, tmp_path / "out", report=False, n_permutations=0, n_random=100)
    assert "toy_closest_squared_distance" in result.proximity.columns
    assert result.proximity.attrs["measure"] == "toy_closest_squared"
    assert result.survival is not None and len(result.survival) == 2
    bundle = next(iter(result.bundles.values()))
    assert bundle.metadata["scoring"] == {
        "method": "toy_mean",
        "min_size": 5,
        "max_size": 2000,
        "options": {"shift": 1.5},
    }
    # the scores are the toy's, not ssGSEA's
    organoids = pd.read_csv(paths["organoid_expression"], sep="\t", index_col=0).T
    pathway = result.biomarkers["pathway"].iloc[0]
    scores = organoidrx.scoring.score(
        organoids, organoidrx.io.read_gmt(paths["gene_sets"]), method="toy_mean"
    )
    stored = bundle.metadata["organoid_scores"][pathway]
    np.testing.assert_allclose(stored, scores.loc[bundle.metadata["organoid_samples"], pathway] + 1.5)


def test_a_registered_scorer_is_a_cli_choice(toy_methods: None, tmp_path: Path) -> None:
    cohort = make_synthetic_cohort(random_state=1)
    paths = cohort.write(tmp_path / "cohort")
    out = tmp_path / "scores.tsv"
    argv = ["--quiet", "score", "--expression", str(paths["organoid_expression"])]
    argv += [
        "--gene-sets",
        str(paths["gene_sets"]),
        "--method",
        "toy_mean",
        "--shift",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert pd.read_csv(out, sep="\t").shape[0] == cohort.organoid_expression.shape[0]


def test_an_option_of_another_method_is_refused(toy_methods: None, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    paths = make_synthetic_cohort(random_state=1).write(tmp_path / "cohort")
    argv = [
        "score",
        "--expression",
        str(paths["organoid_expression"]),
        "--gene-sets",
        str(paths["gene_sets"]),
    ]
    assert main([*argv, "--method", "toy_mean", "--weight", "1", "--out", str(tmp_path / "x.tsv")]) == 2
    assert "--weight is not an option of scorer 'toy_mean'" in capsys.readouterr().err


def test_a_boolean_option_is_a_true_false_flag(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    def flip(data, *, negate: bool) -> np.ndarray:  # type: ignore[no-untyped-def]
        scores = _mean_difference(data, shift=0.0)
        return -scores if negate else scores

    register(
        Method(
            kind="scorer",
            name="toy_flip",
            summary="mean difference, negated on request",
            reference="none",
            func=flip,
            options=(Option("negate", False, bool, "negate the scores"),),
        )
    )
    try:
        paths = make_synthetic_cohort(random_state=1).write(tmp_path / "cohort")
        argv = ["--quiet", "score", "--expression", str(paths["organoid_expression"])]
        argv += ["--gene-sets", str(paths["gene_sets"]), "--method", "toy_flip"]
        written = {}
        for word in ("false", "True", "yes", "0"):
            out = tmp_path / f"{word}.tsv"
            assert main([*argv, "--negate", word, "--out", str(out)]) == 0
            written[word] = pd.read_csv(out, sep="\t", index_col=0).to_numpy()
        np.testing.assert_array_equal(written["True"], -written["false"])
        np.testing.assert_array_equal(written["yes"], written["True"])
        np.testing.assert_array_equal(written["0"], written["false"])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--negate", "maybe", "--out", str(tmp_path / "x.tsv")])
        assert exit_.value.code == 2
        assert "argument --negate: must be true or false; got 'maybe'" in capsys.readouterr().err
        help_text = " ".join(_subparser("score").format_help().split())
        assert "--negate {true,false} negate the scores [scorer option; default toy_flip: false]" in help_text
    finally:
        REGISTRIES["scorer"].unregister("toy_flip")


# --------------------------------------------------------------------------------- one list of names
def _subparser(name: str):  # type: ignore[no-untyped-def]
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


def _choices(parser, dest: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return tuple(next(a for a in parser._actions if a.dest == dest).choices)


def test_cli_choices_are_the_registry_names() -> None:
    assert _choices(_subparser("score"), "method") == method_names("scorer")
    assert _choices(_subparser("proximity"), "measure") == method_names("measure")
    assert _choices(_subparser("methods"), "kind") == KINDS
    score = _subparser("score")
    for option in get_method("scorer", "ssgsea").options:
        if option.choices is not None:
            assert _choices(score, option.name) == option.choices


def test_config_method_keys_accept_exactly_the_registry_names() -> None:
    settings = {o.name: o for o, _ in SCHEMA["settings"]}
    for kind in KINDS:
        assert settings[kind].allowed() == method_names(kind)


def test_methods_lists_every_kind_with_references_and_options(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["methods", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {m["kind"] for m in listed} == set(KINDS)
    assert [(m["kind"], m["name"]) for m in listed] == [(m.kind, m.name) for m in list_methods()]
    for entry in listed:
        assert entry["summary"] and entry["reference"] and isinstance(entry["deterministic"], bool)
    ssgsea = next(m for m in listed if m["name"] == "ssgsea")
    assert {o["name"]: o["default"] for o in ssgsea["options"]} == {
        "weight": 0.25,
        "normalize": "none",
        "ties": "gseapy",
    }
    assert main(["methods", "--kind", "alignment"]) == 0
    text = capsys.readouterr().out
    assert "standardize" in text and "combat" in text and "ssgsea" not in text


def test_registry_refuses_duplicates_and_unknown_names() -> None:
    with pytest.raises(InputError, match="already registered"):
        register(Method("scorer", "ssgsea", "x", "x", func=lambda data: None))
    with pytest.raises(InputError, match=r"unknown scorer 'ssgea' \(did you mean 'ssgsea'\?\)"):
        get_method("scorer", "ssgea")
    with pytest.raises(InputError, match=r"has no option 'wieght' \(did you mean 'weight'\?\)"):
        get_method("scorer", "ssgsea").resolve({"wieght": 1.0})


def test_numpy_scalars_are_the_numbers_they_hold() -> None:
    """np.int64(5) read from an array is the integer 5 (and a numpy bool is not a number)."""
    import numpy as np

    from organoidrx.scoring._base import MIN_SIZE

    assert MIN_SIZE.validate(np.int64(5)) == 5 and type(MIN_SIZE.validate(np.int64(5))) is int
    assert get_method("scorer", "ssgsea").resolve({"weight": np.float32(0.5)})["weight"] == 0.5
    with pytest.raises(InputError, match="must be an integer"):
        MIN_SIZE.validate(np.bool_(True))


# ------------------------------------------------------------------------------------------- overrides
@pytest.fixture(scope="module")
def demo_config(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return make_synthetic_cohort(random_state=0).write(tmp_path_factory.mktemp("cohort"))["config"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"quantile": 3.0}, r"quantile must be a finite number between 0 and 1 \(exclusive\); got 3.0"),
        ({"n_permutation": 10}, r"unknown setting 'n_permutation' \(did you mean 'n_permutations'\?\)"),
        ({"n_permutations": -1}, r"n_permutations must be an integer between 0 and 1,000,000; got -1"),
        (
            {"model": "lasso"},
            r"model must be one of ridge, svr, linear, elasticnet, kernel_ridge; got 'lasso'",
        ),
        ({"scorer_options": {"weight": -1}}, r"weight must be a finite number >= 0"),
        ({"top_k": 10**9}, r"top_k must be an integer between 1 and 100,000"),
    ],
)
def test_overrides_are_validated_like_the_config(demo_config: Path, overrides, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=message):
        run_pipeline(demo_config, demo_config.parent / "out", write=False, **overrides)


# ------------------------------------------------------------------------------------- package surface
def test_bare_import_exposes_subpackages_and_the_error_type() -> None:
    code = "import organoidrx; organoidrx.scoring.ssgsea; organoidrx.InputError; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert issubclass(organoidrx.InputError, ValueError)


def test_a_bug_is_an_internal_error_with_exit_status_1(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    def broken(data, **options):  # type: ignore[no-untyped-def]
        raise ValueError("a bug, not bad input")

    register(Method("scorer", "toy_broken", "raises", "none", func=broken))
    try:
        paths = make_synthetic_cohort(random_state=1).write(tmp_path / "cohort")
        argv = ["score", "--expression", str(paths["organoid_expression"])]
        argv += [
            "--gene-sets",
            str(paths["gene_sets"]),
            "--method",
            "toy_broken",
            "--out",
            str(tmp_path / "s"),
        ]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "internal error: ValueError: a bug, not bad input" in err and "--debug" in err
    finally:
        REGISTRIES["scorer"].unregister("toy_broken")


# ------------------------------------------------------------------------------------------ house rules
SRC = Path(__file__).resolve().parents[1] / "src" / "organoidrx"


def test_pipeline_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in (SRC / "pipeline").glob("*.py")}
    assert max(sizes.values()) <= 400, sizes


def test_only_evaluation_computes_log_rank_statistics() -> None:
    for path in SRC.rglob("*.py"):
        if path.parent.name == "evaluation":
            continue
        text = path.read_text()
        for marker in (
            "logrank_test",
            "multivariate_logrank",
            "survdiff",
            "class LogrankKernel",
            "np.cumsum(member",
        ):
            assert marker not in text, (path, marker)
