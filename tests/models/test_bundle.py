"""Model bundles: exact round trip, bit-identical predictions, integrity checks, atomic replacement."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from organoidrx._utils import InputError
from organoidrx.models import (
    DrugResponseModel,
    load_bundle,
    make_kong2020_pipeline,
    predict_from_bundle,
    save_bundle,
)


def _data(n: int = 20, p: int = 15, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        rng.normal(loc=3.0, scale=2.0, size=(n, p)),
        index=[f"org{i}" for i in range(n)],
        columns=[f"PATHWAY_{j}" for j in range(p)],
    )
    y = pd.Series(X.iloc[:, :3].sum(axis=1).to_numpy() + rng.normal(size=n), index=X.index)
    proximity = pd.DataFrame(
        {"drug": "5-FU", "pathway": X.columns, "z": np.where(np.arange(p) % 3 == 0, 0.0, -2.0)}
    )
    return X, y, proximity


def _patients(X: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = list(X.columns)[::-1]  # different column order than training
    return pd.DataFrame(
        rng.normal(loc=1.0, scale=3.0, size=(9, len(cols))),
        index=[f"TCGA-{i}" for i in range(9)],
        columns=cols,
    )


@pytest.mark.parametrize("kind", ["ridge", "svr", "linear", "elasticnet"])
@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_round_trip_predictions_are_bit_identical(tmp_path, kind, suffix):
    X, y, proximity = _data()
    if kind == "elasticnet":
        pipe = make_pipeline(StandardScaler(), DrugResponseModel(kind, top_k=4)).set_output(
            transform="pandas"
        )
    else:
        pipe = make_kong2020_pipeline(kind, top_k=5, proximity=proximity, drug="5-FU")
    pipe.fit(X, y)
    path = save_bundle(tmp_path / f"model{suffix}", pipe, metadata={"cohort": "organoids", "n": 20})
    bundle = load_bundle(path)
    patients = _patients(X)
    expected = pipe.predict(patients[X.columns])
    got = predict_from_bundle(bundle, patients)
    assert got.index.tolist() == patients.index.tolist()
    assert np.array_equal(got.to_numpy(), expected)  # bit for bit, not allclose
    np.testing.assert_array_equal(predict_from_bundle(path, X).to_numpy(), pipe.predict(X))
    model = pipe[-1]
    assert bundle.manifest["model_kind"] == kind
    assert bundle.metadata == {"cohort": "organoids", "n": 20}
    assert bundle.required_features == [str(f) for f in model.selected_features_]
    assert bundle.drug == ("5-FU" if kind != "elasticnet" else None)
    assert bundle.feature_names == list(X.columns)
    scale = next(s for s in bundle.manifest["steps"] if s["kind"] == "scale")
    np.testing.assert_array_equal(
        bundle.arrays[scale["scale"]],
        pipe.named_steps["standardscaler" if kind == "elasticnet" else "scale"].scale_,
    )


def test_bare_model_and_numpy_pipeline_chain_names(tmp_path):
    X, y, _ = _data()
    model = DrugResponseModel("linear", top_k=3).fit(X, y)
    b = load_bundle(save_bundle(tmp_path / "bare", model))
    np.testing.assert_array_equal(b.predict(X).to_numpy(), model.predict(X))
    # without set_output the scaler sees NumPy; the names still flow from the first step
    pipe = make_pipeline(StandardScaler(), DrugResponseModel("ridge", top_k=2)).fit(X, y)
    b2 = load_bundle(save_bundle(tmp_path / "np", pipe))
    assert all(f.startswith("PATHWAY_") for f in b2.required_features)
    np.testing.assert_array_equal(b2.predict(X).to_numpy(), pipe.predict(X))


def test_only_required_pathways_must_be_present(tmp_path):
    X, y, _ = _data()
    pipe = make_pipeline(StandardScaler(), DrugResponseModel("linear", top_k=2)).set_output(
        transform="pandas"
    )
    pipe.fit(X, y)
    bundle = load_bundle(save_bundle(tmp_path / "m", pipe))
    needed = bundle.required_features
    got = predict_from_bundle(bundle, X[needed])
    np.testing.assert_array_equal(got.to_numpy(), pipe.predict(X))
    with pytest.raises(InputError, match=r"scores lack 1 of the 2 pathways the model m uses"):
        predict_from_bundle(bundle, X[needed[:1]])


def test_cohort_standardisation_equals_refitting_the_scaler_on_patients(tmp_path):
    X, y, proximity = _data()
    pipe = make_kong2020_pipeline("linear", proximity=proximity, drug="5-FU").fit(X, y)
    bundle = load_bundle(save_bundle(tmp_path / "m", pipe))
    patients = _patients(X)[X.columns]
    got = predict_from_bundle(bundle, patients, standardize="cohort")
    selected = patients[pipe.named_steps["select"].get_feature_names_out()]
    z = StandardScaler().fit_transform(selected)
    model = pipe.named_steps["model"]
    np.testing.assert_allclose(got.to_numpy(), z[:, model.selected_indices_] @ model.coef_ + model.intercept_)
    # the shift and scale of a whole cohort cancel out
    shifted = predict_from_bundle(bundle, patients * 3.0 + 7.0, standardize="cohort")
    np.testing.assert_allclose(shifted.to_numpy(), got.to_numpy(), atol=1e-9)


def test_bundle_bytes_are_deterministic_and_not_pickled(tmp_path):
    X, y, proximity = _data()
    pipe = make_kong2020_pipeline("ridge", proximity=proximity, drug="5-FU").fit(X, y)
    a = save_bundle(tmp_path / "a.zip", pipe, metadata={"drug": "FLUOROURACIL"})
    b = save_bundle(tmp_path / "b.zip", pipe, metadata={"drug": "FLUOROURACIL"})
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert "manifest.json" in names and all(n == "manifest.json" or n.endswith(".npy") for n in names)
    assert manifest["drug"] == "FLUOROURACIL" and len(manifest["sha256"]) == 64
    assert manifest["steps"][0]["params"]["proximity"].startswith("<DataFrame")


def test_tampered_and_foreign_bundles_are_refused(tmp_path):
    X, y, _ = _data()
    pipe = make_pipeline(StandardScaler(), DrugResponseModel("linear", top_k=3)).set_output(
        transform="pandas"
    )
    pipe.fit(X, y)
    folder = save_bundle(tmp_path / "model.orxbundle", pipe)
    coef_file = next((folder / "arrays").glob("*coef.npy"))
    arr = np.load(coef_file)
    arr[0] += 1.0
    np.save(coef_file, arr)
    with pytest.raises(InputError, match=r"model\.orxbundle: checksum mismatch; the bundle was modified"):
        load_bundle(folder)
    # editing the JSON (e.g. the intercept) is caught too
    folder2 = save_bundle(tmp_path / "m2", pipe)
    manifest = json.loads((folder2 / "manifest.json").read_text())
    manifest["steps"][-1]["intercept"] += 1.0
    (folder2 / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="m2: checksum mismatch"):
        load_bundle(folder2)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "weights.bin").write_bytes(b"\0")
    with pytest.raises(InputError, match=r"foreign: is not an organoidrx bundle \(no manifest\.json\)"):
        load_bundle(tmp_path / "foreign")
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"x\.zip: is not an organoidrx bundle"):
        load_bundle(tmp_path / "x.zip")
    with pytest.raises(InputError, match="no such model bundle"):
        load_bundle(tmp_path / "absent")
    whole = save_bundle(tmp_path / "whole.zip", pipe).read_bytes()
    (tmp_path / "cut.zip").write_bytes(whole[: len(whole) // 2])  # a copy stopped half-way
    with pytest.raises(InputError, match=r"cut\.zip: is a damaged zip file .* copy the bundle again"):
        load_bundle(tmp_path / "cut.zip")
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InputError, match="format 'something-else'"):
        load_bundle(other)


def test_save_refuses_what_it_cannot_represent_or_overwrite(tmp_path):
    X, y, _ = _data()
    with pytest.raises(InputError, match="is not fitted"):
        save_bundle(tmp_path / "m", DrugResponseModel())
    unnamed = DrugResponseModel("linear").fit(X.to_numpy(), y.to_numpy())
    with pytest.raises(InputError, match="fitted without feature names"):
        save_bundle(tmp_path / "m", unnamed)
    from sklearn.linear_model import Ridge

    with pytest.raises(InputError, match="only a DrugResponseModel or a Pipeline ending in one"):
        save_bundle(tmp_path / "m", make_pipeline(StandardScaler(), Ridge()).fit(X, y))
    model = DrugResponseModel("linear").fit(X, y)
    with pytest.raises(InputError, match="metadata must be JSON-serialisable"):
        save_bundle(tmp_path / "m", model, metadata={"when": object()})
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="non-empty folder that is not an organoidrx bundle"):
        save_bundle(occupied, model)
    assert (occupied / "notes.txt").read_text() == "mine"
    # replacing an existing bundle works and leaves no temporary folders behind
    target = save_bundle(tmp_path / "again", model)
    save_bundle(target, DrugResponseModel("linear", top_k=1).fit(X, y))
    assert len(load_bundle(target).required_features) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_interrupted_replacement_leaves_the_previous_bundle_whole(tmp_path, monkeypatch):
    X, y, _ = _data()
    target = save_bundle(tmp_path / "model", DrugResponseModel("linear", top_k=3).fit(X, y))
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    calls = []

    def interrupted_fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        save_bundle(target, DrugResponseModel("linear", top_k=1).fit(X, y))
    monkeypatch.undo()
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert len(load_bundle(target).required_features) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
