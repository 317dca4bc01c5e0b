from __future__ import annotations

from pathlib import Path

import pytest

from organoidrx._utils import InputError
from organoidrx.pipeline import read_config

_FILES = ["expr.tsv", "resp.tsv", "net.tsv", "sets.gmt", "targets.tsv", "pexpr.tsv", "clin.tsv"]

_GOOD = """
[preclinical]
expression = "expr.tsv"
response = "resp.tsv"
[network]
edges = "net.tsv"
min_score = 700
[pathways]
gene_sets = "sets.gmt"
[drugs]
targets = "targets.tsv"
names = ["FLUOROURACIL"]
[patients]
expression = "pexpr.tsv"
clinical = "clin.tsv"
[settings]
n_random = 100
seed = 3
model = "svr"
top_k = 5
n_permutations = 10
"""


def _write(tmp_path: Path, text: str) -> Path:
    for name in _FILES:
        (tmp_path / name).write_text("x\n")
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_good_config_resolves_paths(tmp_path: Path) -> None:
    config = read_config(_write(tmp_path, _GOOD))
    assert config.network == (tmp_path / "net.tsv").resolve()
    assert config.drugs == ("FLUOROURACIL",)
    assert (config.seed, config.model, config.top_k, config.n_random) == (3, "svr", 5, 100)
    assert config.has_patients
    assert config.to_dict()["network"].endswith("net.tsv")


def test_preclinical_only(tmp_path: Path) -> None:
    text = _GOOD.split("[patients]")[0] + "[settings]\nseed = 1\n"
    config = read_config(_write(tmp_path, text))
    assert not config.has_patients


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('response = "resp.tsv"\n', ""), "missing key 'response' in \\[preclinical\\]"),
        (lambda t: t.replace('"net.tsv"', '"nowhere.tsv"'), "edges = 'nowhere.tsv' does not exist"),
        (
            lambda t: t.replace("top_k = 5", "topk = 5"),
            "unknown key 'topk' in \\[settings\\] \\(did you mean 'top_k'",
        ),
        (lambda t: t.replace('model = "svr"', 'model = "rigde"'), "did you mean 'ridge'"),
        (lambda t: t.replace("seed = 3", 'seed = "three"'), "seed must be an integer"),
        (lambda t: t.replace("[pathways]", "[pathway]"), "unknown section \\[pathway\\]"),
        (lambda t: t.replace('names = ["FLUOROURACIL"]', "names = []"), "names must be a non-empty list"),
        (lambda t: t + "[[broken", "not valid TOML"),
        (lambda t: t.replace('edges = "net.tsv"\n', ""), "needs 'edges'"),
        # valid alone, wrong together or parsed only when first used: refused before any work
        (
            lambda t: t.replace(
                'gene_sets = "sets.gmt"', 'gene_sets = "sets.gmt"\nmin_size = 100\nmax_size = 10'
            ),
            r"\[pathways\] min_size = 100 is above max_size = 10",
        ),
        (
            lambda t: t.replace('clinical = "clin.tsv"', 'clinical = "clin.tsv"\nduration_col = "event"'),
            r"\[patients\]: column 'event' is named for two roles \(duration_col and event_col\)",
        ),
        (
            lambda t: t.replace(
                'clinical = "clin.tsv"', 'clinical = "clin.tsv"\ncovariates = ["age", "time"]'
            ),
            r"column 'time' is named for two roles \(duration_col and covariates\)",
        ),
        (
            lambda t: t.replace('clinical = "clin.tsv"', 'clinical = "clin.tsv"\npatient_col = " "'),
            r"\[patients\] patient_col is empty",
        ),
        (lambda t: t + 'memory = "lots"\n', r"\[settings\] memory 'lots' is not a size"),
        (
            lambda t: t + '[compare]\nscorers = ["ssgsae"]\n',
            r"unknown scorer 'ssgsae' \(did you mean 'ssgsea'",
        ),
    ],
)
def test_bad_configs(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, edit(_GOOD))
    with pytest.raises(InputError, match=message) as info:
        read_config(path)
    assert str(info.value).startswith("config.toml: ")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="config file does not exist"):
        read_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'alignment = "combatt"',
            r"alignment must be one of standardize, combat, quantile, precise; got 'combatt' \(did you mean 'combat'\?\)",
        ),
        (
            '[scorer]\nnormalize = "rank"',
            r"\[scorer\] normalize must be one of none, range, n_genes; got 'rank'",
        ),
        (
            'normalize = "range"',
            r"'normalize' in \[settings\] is an option of scorer 'ssgsea': put it under \[scorer\]",
        ),
    ],
)
def test_unknown_alignment_or_normalisation_is_refused(tmp_path, line, message):
    path = _write(tmp_path, _GOOD + line + "\n")
    with pytest.raises(InputError, match=message):
        read_config(path)


def test_alignment_choices_are_read(tmp_path):
    assert read_config(_write(tmp_path, _GOOD + 'alignment = "quantile"\n')).alignment == "quantile"


def test_the_committed_config_reference_is_generated_from_the_schema():
    from pathlib import Path

    from organoidrx.pipeline._schema import SCHEMA, config_reference

    committed = Path(__file__).parents[2] / "docs" / "config.md"
    text = config_reference()
    assert committed.read_text() == text, "docs/config.md is stale: run python docs/make_references.py"
    for section, entries in SCHEMA.items():
        assert f"## [{section}]" in text
        for option, _ in entries:
            assert f"| `{option.name}` |" in text


def test_measure_options_are_read_and_checked(tmp_path):
    cfg = read_config(_write(tmp_path, _GOOD + 'measure = "rwr"\n[measure]\nrestart = 0.3\n'))
    assert cfg.measure == "rwr" and cfg.options("measure") == {"restart": 0.3}
    assert read_config(_write(tmp_path, _GOOD + 'measure = "diamond"\n')).options("measure") == {
        "n_added": 50,
        "alpha": 1,
    }
    for text, message in [
        (
            'measure = "rwr"\n[measure]\nrestart = 1.5\n',
            r"\[measure\] restart must be a finite number between 0 and 1",
        ),
        (
            'measure = "separation"\n[measure]\nrestart = 0.3\n',
            r"measure 'separation' has no option 'restart'",
        ),
        (
            'measure = "diamond"\n[measure]\nn_added = 0\n',
            r"\[measure\] n_added must be an integer between 1 and",
        ),
    ]:
        with pytest.raises(InputError, match=message) as info:
            read_config(_write(tmp_path, _GOOD + text))
        assert "\n" not in str(info.value)


def test_model_options_go_to_the_candidates_that_take_them(tmp_path: Path) -> None:
    """[model] kernel with model = ["ridge", "kernel_ridge"]: kernel ridge gets it, ridge does not need it."""
    from organoidrx.models import make_response_model

    text = (
        _GOOD.replace('model = "svr"', 'model = ["ridge", "kernel_ridge"]')
        + '[model]\nkernel = "laplacian"\n'
    )
    cfg = read_config(_write(tmp_path, text))
    assert cfg.options("model") == {"kernel": "laplacian"} or cfg.method_options["model"] == {
        "kernel": "laplacian"
    }
    selector = make_response_model(cfg.model, cfg.top_k, model_options=cfg.method_options["model"])
    options = {name: pipe[-1].model_options for name, pipe in selector.estimators}
    assert options == {"ridge_top5": None, "kernel_ridge_top5": {"kernel": "laplacian"}}
    with pytest.raises(
        InputError, match=r"model 'kernel_ridge' has no option 'kernal' \(did you mean 'kernel'\?\)"
    ):
        read_config(_write(tmp_path, text.replace("kernel = ", "kernal = ")))


def test_model_and_top_k_lists_are_candidates(tmp_path: Path) -> None:
    text = _GOOD.replace('model = "svr"', 'model = ["ridge", "svr"]').replace("top_k = 5", "top_k = [5, 10]")
    config = read_config(_write(tmp_path, text))
    assert config.model == ("ridge", "svr") and config.top_k == (5, 10) and config.selects_model
    assert config.model_label == "nested_ridge+svr_top5+10"
    one = read_config(_write(tmp_path, _GOOD.replace("top_k = 5", "top_k = [7]")))
    assert one.top_k == 7 and not one.selects_model and one.model_label == "svr_top7"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('model = ["ridge", "rigde"]', r"model must be one of .*; got 'rigde' \(did you mean 'ridge'"),
        ("top_k = [5, 0]", r"top_k must be an integer between 1 and 100,000; got 0"),
        ("top_k = [5, 5]", r"top_k lists 5 twice"),
        ("top_k = []", r"top_k must be an integer or a non-empty list of them"),
        ('top_k = ["5"]', r"top_k must be an integer; got '5'"),
    ],
)
def test_bad_candidate_lists_are_refused(tmp_path: Path, line: str, message: str) -> None:
    key = line.split(" =")[0]
    old = 'model = "svr"' if key == "model" else "top_k = 5"
    with pytest.raises(InputError, match=message):
        read_config(_write(tmp_path, _GOOD.replace(old, line)))


def test_network_keys_beside_a_precomputed_table_are_named_as_unused(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "prox.tsv").write_text("x\n")
    text = _GOOD.replace('edges = "net.tsv"', 'proximity = "prox.tsv"\nedge_columns = ["a", "b", "s"]')
    text = text.replace('gene_sets = "sets.gmt"', 'gene_sets = "sets.gmt"\nproximity_gene_sets = "sets.gmt"')
    with caplog.at_level("WARNING", logger="organoidrx"):
        read_config(_write(tmp_path, text))
    assert (
        "[network] edge_columns, [network] min_score, [pathways] proximity_gene_sets not used: [network] proximity "
        "is a precomputed table"
    ) in caplog.text
