"""Tampered, forged and hostile bundles: one row per attack, each refused with one line naming the bundle.

Every row starts from a bundle that loads, changes one thing, and asserts an :class:`InputError` (or exit status
2 with one line on stderr) and that nothing was written anywhere under the test folder. Where the checksum would
catch the change, the row recomputes it, so only the check under test can refuse the bundle.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import struct
import types
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from organoidrx import cli
from organoidrx._utils import InputError
from organoidrx.models import _bundle as bundle_module
from organoidrx.models import load_bundle, make_response_pipeline, save_bundle
from organoidrx.models._bundle import SIGNATURE, _digest
from organoidrx.pipeline import predict_with_bundle, train_bundles
from organoidrx.scoring import score

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
COEF = "arrays/step1_coef.npy"
SELECTED = "arrays/step1_selected.npy"
SCALE = "arrays/step0_scale.npy"


# ------------------------------------------------------------------------------------------- a train bundle
@pytest.fixture(scope="module")
def trained() -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """A fitted pipeline, the metadata 'organoidrx train' stores with it, and patients' expression."""
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(80)]
    sets = {f"PATHWAY_{j}": genes[j * 8 : j * 8 + 10] for j in range(7)}
    organoids = pd.DataFrame(rng.normal(size=(12, 80)), index=[f"org{i}" for i in range(12)], columns=genes)
    scores = score(organoids, sets)
    y = scores.iloc[:, :2].sum(axis=1) + rng.normal(scale=0.1, size=12)
    fitted = make_response_pipeline("ridge", top_k=3).fit(scores, y.to_numpy())
    metadata = {
        "drug": "DRUG_A",
        "lower_is_sensitive": True,
        "alignment": "standardize",
        "quantile": 0.5,
        "scoring": {"method": "ssgsea", "min_size": 5, "max_size": 2000, "options": {}},
        "gene_sets": sets,
        "organoid_scores": {f: scores[f].tolist() for f in scores.columns},
    }
    patients = pd.DataFrame(rng.normal(size=(6, 80)), index=[f"P{i}" for i in range(6)], columns=genes)
    return fitted, metadata, patients


def _resign(folder: Path, key: bytes | None = None) -> None:
    """Recompute the checksum (and, with ``key``, the signature) of an edited bundle folder."""
    manifest = json.loads((folder / "manifest.json").read_text())
    blobs = {f"arrays/{n}.npy": (folder / "arrays" / f"{n}.npy").read_bytes() for n in manifest["arrays"]}
    if key is not None:
        manifest[SIGNATURE] = _digest(manifest, blobs, key=key)
    manifest["sha256"] = _digest(manifest, blobs)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _edit_manifest(folder: Path, edit: Callable[[dict[str, Any]], None], *, resign: bool = True) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if resign:
        _resign(folder)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _members(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _write_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on a duplicated name; writing one is the point
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return path


# ------------------------------------------------------------------------------------------------ the attacks
def bit_flip_in_array(bundle: Path, tmp: Path) -> Path:
    data = bytearray((bundle / COEF).read_bytes())
    data[-1] ^= 0x01
    (bundle / COEF).write_bytes(bytes(data))
    return bundle


def edited_json_value(bundle: Path, tmp: Path) -> Path:
    def edit(m: dict[str, Any]) -> None:
        m["steps"][-1]["intercept"] += 1.0

    _edit_manifest(bundle, edit, resign=False)
    return bundle


def _zip_with(bundle: Path, tmp: Path, extra: list[tuple[str, bytes]]) -> Path:
    return _write_zip(tmp / "bundle.zip", [*_members(bundle).items(), *extra])


def zip_parent_traversal(bundle: Path, tmp: Path) -> Path:
    return _zip_with(bundle, tmp, [("../escaped.txt", b"outside")])


def zip_nested_traversal(bundle: Path, tmp: Path) -> Path:
    return _zip_with(bundle, tmp, [("arrays/../../escaped.npy", b"outside")])


def zip_absolute_name(bundle: Path, tmp: Path) -> Path:
    return _zip_with(bundle, tmp, [("/tmp/escaped.txt", b"outside")])


def zip_duplicate_name(bundle: Path, tmp: Path) -> Path:
    forged = np.asarray(np.load(bundle / COEF) * 100.0)
    return _zip_with(bundle, tmp, [(COEF, _npy(forged))])


def _bomb(bundle: Path, tmp: Path, size: int) -> Path:
    """A zip whose coefficient member expands to ``size`` zero bytes from about a thousandth of that."""
    path = tmp / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _members(bundle).items():
            if name != COEF:
                archive.writestr(name, data)
        with archive.open(COEF, "w") as handle:
            chunk = bytes(2**20)
            for _ in range(size // len(chunk)):
                handle.write(chunk)
    assert path.stat().st_size < size // 100
    return path


def zip_bomb(bundle: Path, tmp: Path) -> Path:
    return _bomb(bundle, tmp, 100 * 2**20)


def zip_lying_size(bundle: Path, tmp: Path) -> Path:
    """The coefficient member expands to 16 MiB but its headers claim 152 bytes."""
    path = _bomb(bundle, tmp, 16 * 2**20)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(COEF)
    struct.pack_into("<I", data, info.header_offset + 22, 152)  # local header: uncompressed size
    central = struct.unpack_from("<I", data, data.rindex(b"PK\x05\x06") + 16)[0]
    while data[central + 46 : central + 46 + len(COEF)] != COEF.encode():
        name, extra, comment = struct.unpack_from("<HHH", data, central + 28)
        central += 46 + name + extra + comment
    struct.pack_into("<I", data, central + 24, 152)  # central directory: uncompressed size
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(COEF).file_size == 152
    return path


def symlink_out_of_bundle(bundle: Path, tmp: Path) -> Path:
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "coef.npy").write_bytes((bundle / COEF).read_bytes())  # the same bytes: the checksum holds
    (bundle / COEF).unlink()
    (bundle / COEF).symlink_to(outside / "coef.npy")
    return bundle


def symlinked_arrays_folder(bundle: Path, tmp: Path) -> Path:
    outside = tmp / "outside"
    outside.mkdir()
    (bundle / "arrays").rename(outside / "arrays")
    (bundle / "arrays").symlink_to(outside / "arrays", target_is_directory=True)
    return bundle


def pipe_for_array(bundle: Path, tmp: Path) -> Path:
    (bundle / COEF).unlink()
    os.mkfifo(bundle / COEF)
    return bundle


class _Touch:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def pickle_for_npy(bundle: Path, tmp: Path) -> Path:
    (bundle / COEF).write_bytes(pickle.dumps(_Touch(tmp / "pickle_was_loaded")))
    _resign(bundle)
    return bundle


def object_array(bundle: Path, tmp: Path) -> Path:
    (bundle / COEF).write_bytes(_npy(np.array([_Touch(tmp / "pickle_was_loaded")], dtype=object)))
    _resign(bundle)
    return bundle


def nan_coefficient(bundle: Path, tmp: Path) -> Path:
    coef = np.load(bundle / COEF)
    coef[0] = np.nan
    np.save(bundle / COEF, coef)
    _resign(bundle)
    return bundle


def infinite_scale(bundle: Path, tmp: Path) -> Path:
    scale = np.load(bundle / SCALE)
    scale[-1] = np.inf
    np.save(bundle / SCALE, scale)
    _resign(bundle)
    return bundle


def infinite_json_number(bundle: Path, tmp: Path) -> Path:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["steps"][-1]["intercept"] = "__INTERCEPT__"
    text = json.dumps(manifest).replace('"__INTERCEPT__"', "1e999")
    (bundle / "manifest.json").write_text(text)
    return bundle


def deep_json(bundle: Path, tmp: Path) -> Path:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["metadata"]["notes"] = "__DEEP__"
    text = json.dumps(manifest).replace('"__DEEP__"', "[" * 200_000 + "]" * 200_000)
    (bundle / "manifest.json").write_text(text)
    return bundle


def out_of_range_index(bundle: Path, tmp: Path) -> Path:
    selected = np.load(bundle / SELECTED)
    selected[-1] = 999
    np.save(bundle / SELECTED, selected)
    _resign(bundle)
    return bundle


def no_steps(bundle: Path, tmp: Path) -> Path:
    _edit_manifest(bundle, lambda m: m.update(steps=[]))
    return bundle


def text_intercept(bundle: Path, tmp: Path) -> Path:
    _edit_manifest(bundle, lambda m: m["steps"][-1].update(intercept="abc"))
    return bundle


def text_min_size(bundle: Path, tmp: Path) -> Path:
    _edit_manifest(bundle, lambda m: m["metadata"]["scoring"].update(min_size="abc"))
    return bundle


def text_alignment_option(bundle: Path, tmp: Path) -> Path:
    def edit(m: dict[str, Any]) -> None:
        m["metadata"].update(alignment="precise", alignment_options={"n_pc": "abc"})

    _edit_manifest(bundle, edit)
    return bundle


def array_name_traversal(bundle: Path, tmp: Path) -> Path:
    outside = tmp / "outside"
    outside.mkdir()
    np.save(outside / "x.npy", np.zeros(3))
    _edit_manifest(bundle, lambda m: m["arrays"].append("../../outside/x"))
    return bundle


def oversized_listed_array(bundle: Path, tmp: Path) -> Path:
    np.save(bundle / COEF, np.zeros(300_000))  # 2.4 MB, above the 1 MiB limit of this row
    _resign(bundle)
    return bundle


def forged_signed_bundle(bundle: Path, tmp: Path) -> Path:
    def edit(m: dict[str, Any]) -> None:
        m["steps"][-1]["intercept"] += 1.0

    _edit_manifest(bundle, edit)  # a valid checksum, but only the key holder can sign
    return bundle


def untouched(bundle: Path, tmp: Path) -> Path:
    return bundle


@dataclass(frozen=True)
class Case:
    name: str
    tamper: Callable[[Path, Path], Path]
    match: str
    sign_with: bytes | None = None
    load_with: bytes | None = None
    max_bytes: int | None = None
    via: str = "load"  # "load": load_bundle; "predict": predict_with_bundle; "cli": organoidrx predict


CASES = [
    Case("bit flip in an array", bit_flip_in_array, r"checksum mismatch; the bundle was modified"),
    Case("edited JSON value", edited_json_value, r"checksum mismatch; the bundle was modified"),
    Case("zip member ../x", zip_parent_traversal, r"zip member '\.\./escaped\.txt' has an unsafe name"),
    Case("zip member a/../../x", zip_nested_traversal, r"has an unsafe name"),
    Case("zip member /absolute", zip_absolute_name, r"zip member '/tmp/escaped\.txt' has an unsafe name"),
    Case("zip member twice", zip_duplicate_name, r"zip member 'arrays/step1_coef\.npy' appears twice"),
    Case(
        "zip bomb",
        zip_bomb,
        r"declares 104,857,600 uncompressed bytes, above the limit of 1,048,576",
        max_bytes=2**20,
    ),
    Case("zip bomb (command line)", zip_bomb, r"declares 104,857,600 uncompressed bytes", via="cli"),
    Case("zip header lying about the size", zip_lying_size, r"step1_coef\.npy' cannot be expanded"),
    Case("symlink out of the bundle", symlink_out_of_bundle, r"arrays/step1_coef\.npy is a symbolic link"),
    Case("symlink (command line)", symlink_out_of_bundle, r"is a symbolic link", via="cli"),
    Case("symlinked arrays folder", symlinked_arrays_folder, r": arrays is a symbolic link"),
    Case("named pipe for an array", pipe_for_array, r"step1_coef\.npy is not a regular file"),
    Case("pickle instead of .npy", pickle_for_npy, r"step1_coef\.npy is not a NumPy \.npy file"),
    Case("object array in .npy", object_array, r"step1_coef\.npy holds object values"),
    Case("NaN coefficient", nan_coefficient, r"array 'step1_coef' holds 1 non-finite value"),
    Case("infinite scale", infinite_scale, r"array 'step0_scale' holds 1 non-finite value"),
    Case("1e999 in the JSON", infinite_json_number, r"the number 1e999 is not finite"),
    Case("200,000-deep JSON", deep_json, r"manifest\.json nests 200,00\d levels deep"),
    Case("200,000-deep JSON (command line)", deep_json, r"nests 200,00\d levels deep", via="cli"),
    Case("index out of range", out_of_range_index, r"holds index 999, out of range for the 7 features"),
    Case("no steps", no_steps, r"'steps' must be a list of 1 to 16 steps"),
    Case("text intercept", text_intercept, r"steps\[1\]\.intercept must be a finite number, got 'abc'"),
    Case("text min_size", text_min_size, r"metadata scoring min_size must be .*'abc'", via="predict"),
    Case("text min_size (command line)", text_min_size, r"min_size must be .*'abc'", via="cli"),
    Case(
        "text alignment option",
        text_alignment_option,
        r"metadata alignment_options n_pc must be an integer; got 'abc'",
        via="predict",
    ),
    Case("array name ../../x", array_name_traversal, r"'arrays' must be names of letters"),
    Case(
        "listed array above the limit",
        oversized_listed_array,
        r"step1_coef\.npy holds 2,400,128 bytes, above the 1,048,576",
        max_bytes=2**20,
    ),
    Case("wrong key", untouched, r"signature does not match the key", sign_with=KEY, load_with=OTHER_KEY),
    Case("wrong key (command line)", untouched, r"signature does not match", KEY, OTHER_KEY, via="cli"),
    Case("unsigned bundle with a key", untouched, r"is not signed, but a key was given", load_with=KEY),
    Case("unsigned bundle (command line)", untouched, r"is not signed", load_with=KEY, via="cli"),
    Case("forged checksum, signed", forged_signed_bundle, r"signature does not match", KEY, KEY),
]


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` (links not followed) with its mode, size and modification time."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = os.lstat(path)
            found[path.relative_to(root).as_posix()] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tampered_bundle_is_refused(case: Case, trained, tmp_path, monkeypatch, capsys) -> None:
    fitted, metadata, patients = trained
    bundle = save_bundle(tmp_path / "bundle", fitted, metadata=metadata, key=case.sign_with)
    load_bundle(bundle, key=case.sign_with)  # the untouched bundle loads
    target = case.tamper(bundle, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    expression = inputs / "expression.tsv"
    patients.T.to_csv(expression, sep="\t", index_label="gene")
    key_file = inputs / "key"
    key_file.write_bytes((case.load_with or b"") + b"\n")
    out = tmp_path / "out" / "predictions.tsv"
    before = _tree(tmp_path)

    if case.via == "cli":
        monkeypatch.setattr(bundle_module, "MAX_BUNDLE_BYTES", 2**20)
        args = ["predict", "--bundle", str(target), "--expression", str(expression), "--out", str(out)]
        if case.load_with is not None:
            args += ["--verify-key", str(key_file)]
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"organoidrx: error: {target}: ")
        assert re.search(case.match, err), err
    else:
        with pytest.raises(InputError, match=case.match) as raised:
            if case.via == "predict":
                predict_with_bundle(target, expression, out=out, key=case.load_with)
            else:
                load_bundle(target, key=case.load_with, max_bytes=case.max_bytes)
        message = str(raised.value)
        assert "\n" not in message and message.startswith(f"{target}: ")
    assert _tree(tmp_path) == before  # nothing written: no prediction, no extracted member, no unpickled file


def test_untouched_signed_bundle_predicts_through_the_command_line(trained, tmp_path, capsys) -> None:
    fitted, metadata, patients = trained
    bundles = tmp_path / "bundles"
    save_bundle(bundles / "DRUG_A", fitted, metadata=metadata, key=KEY)
    expression = tmp_path / "expression.tsv"
    patients.T.to_csv(expression, sep="\t", index_label="gene")
    (tmp_path / "key").write_bytes(KEY + b"\n")
    out = tmp_path / "predictions.tsv"
    args = ["predict", "--expression", str(expression), "--out", str(out)]
    args += ["--reference", "cohort"]  # the fixture's bundle holds no patient reference
    key = ["--verify-key", str(tmp_path / "key")]
    # a folder without the index 'train' writes cannot be vouched for as a set by the key
    assert cli.main([*args, "--bundle", str(bundles), *key]) == 2
    assert "has no bundles.json" in capsys.readouterr().err
    assert cli.main([*args, "--bundle", str(bundles / "DRUG_A"), *key]) == 0
    table = pd.read_csv(out, sep="\t")
    assert table["patient"].tolist() == patients.index.tolist()
    assert table["predicted_response"].notna().all() and table["group"].notna().all()
    # the same bundle as a zip, and without a key (the signature is then not checked)
    zipped = save_bundle(tmp_path / "DRUG_A.zip", fitted, metadata=metadata, key=KEY)
    again = predict_with_bundle(zipped, expression, reference="cohort")
    np.testing.assert_allclose(again["predicted_response"], table["predicted_response"], rtol=1e-9)


def test_unlisted_big_file_in_the_folder_is_never_opened(trained, tmp_path, monkeypatch) -> None:
    fitted, metadata, _ = trained
    bundle = save_bundle(tmp_path / "bundle", fitted, metadata=metadata)
    expected = load_bundle(bundle)
    huge = bundle / "huge.bin"
    with open(huge, "wb") as handle:
        handle.truncate(4 * 2**30)  # 4 GiB, sparse: costs no disk
    (bundle / "arrays" / "notes.npy").write_bytes(b"never read")
    opened: list[str] = []
    real_open, real_os_open = io.open, os.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike):
            opened.append(os.fspath(file))
        if str(file).endswith(("huge.bin", "notes.npy")):
            raise AssertionError(f"{file} was opened")
        return real_open(file, *args, **kwargs)

    def os_spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.fspath(file))
        if str(file).endswith(("huge.bin", "notes.npy")):
            raise AssertionError(f"{file} was opened")
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr("builtins.open", spy)
    monkeypatch.setattr(os, "open", os_spy)
    loaded = load_bundle(bundle)
    monkeypatch.undo()
    assert sorted(Path(p).name for p in opened) == sorted(
        ["manifest.json", *(f"{n}.npy" for n in expected.manifest["arrays"])]
    )
    assert loaded.manifest == expected.manifest
    assert all(np.array_equal(loaded.arrays[k], v) for k, v in expected.arrays.items())


def test_a_pickle_is_never_unpickled(trained, tmp_path, monkeypatch) -> None:
    fitted, metadata, _ = trained
    bundle = save_bundle(tmp_path / "bundle", fitted, metadata=metadata)
    pickle_for_npy(bundle, tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    with pytest.raises(InputError, match=r"not a NumPy \.npy file"):
        load_bundle(bundle)
    assert not (tmp_path / "pickle_was_loaded").exists()


# ---------------------------------------------------------------------------------------------- keys
def test_keys_are_checked_before_use(trained, tmp_path, capsys) -> None:
    fitted, metadata, _ = trained
    with pytest.raises(InputError, match="key is 5 bytes; use at least 16 random bytes"):
        save_bundle(tmp_path / "m", fitted, metadata=metadata, key=b"short")
    with pytest.raises(InputError, match="key must be bytes"):
        load_bundle(tmp_path / "m", key="a string, not bytes")  # type: ignore[arg-type]
    assert not (tmp_path / "m").exists()
    (tmp_path / "short.key").write_text("abc\n")
    args = ["predict", "--bundle", str(tmp_path), "--expression", "x.tsv", "--out", str(tmp_path / "p.tsv")]
    assert cli.main([*args, "--verify-key", str(tmp_path / "short.key")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "short.key: key file holds 3 bytes; use at least 16" in err
    assert cli.main([*args, "--verify-key", str(tmp_path / "absent.key")]) == 2
    assert "absent.key: no such key file" in capsys.readouterr().err


def test_signature_is_ignored_without_a_key_but_logged(trained, tmp_path, caplog) -> None:
    fitted, metadata, _ = trained
    signed = save_bundle(tmp_path / "signed.zip", fitted, metadata=metadata, key=KEY)
    with caplog.at_level("DEBUG", logger="organoidrx"):
        bundle = load_bundle(signed)
    assert "its signature was not checked" in caplog.text
    assert len(bundle.manifest[SIGNATURE]) == 64
    assert load_bundle(signed, key=KEY).manifest == bundle.manifest


# -------------------------------------------------------------------------------- saving what cannot be read
def test_save_refuses_a_model_or_metadata_load_would_refuse(trained, tmp_path) -> None:
    fitted, metadata, _ = trained
    broken = make_response_pipeline("ridge", top_k=3).fit(
        pd.DataFrame(np.eye(4), columns=list("abcd")), np.arange(4.0)
    )
    broken[-1].coef_ = np.array([np.nan, 1.0, 2.0])
    with pytest.raises(InputError, match=r"array 'step1_coef' holds 1 non-finite value.*refit the model"):
        save_bundle(tmp_path / "nan", broken)
    deep: Any = "leaf"
    for _ in range(40):
        deep = [deep]
    with pytest.raises(InputError, match=r"the metadata nests 4[0-9] levels deep"):
        save_bundle(tmp_path / "deep", fitted, metadata={**metadata, "notes": deep})
    with pytest.raises(InputError, match="metadata 'drug' must be a string"):
        save_bundle(tmp_path / "drug", fitted, metadata={**metadata, "drug": 5})
    assert list(tmp_path.iterdir()) == []


def _config(folder: Path) -> Path:
    """A real configuration (its input files are what --out may never hold); the fit itself is faked."""
    from organoidrx.datasets import make_synthetic_cohort

    return make_synthetic_cohort(n_genes=300, n_pathways=20, n_organoids=10, random_state=0).write(folder)[
        "config"
    ]


# ------------------------------------------------------------------------------------ one folder per drug
@pytest.mark.parametrize(
    ("first", "second", "shown"),
    [("DRUG_A", "DRUG A", r"bundles/DRUG_A;"), ("Drug_A", "drug_a", r"one folder on case-insensitive")],
)
def test_drugs_sharing_a_bundle_folder_are_refused_before_writing(
    trained, tmp_path, monkeypatch, capsys, first, second, shown
) -> None:
    fitted, metadata, _ = trained
    fake = types.SimpleNamespace(
        models={first: fitted, second: fitted},
        bundles={
            first: types.SimpleNamespace(metadata=metadata),
            second: types.SimpleNamespace(metadata=metadata),
        },
    )
    monkeypatch.setattr("organoidrx.pipeline._train.run_pipeline", lambda *a, **k: fake)
    config = _config(tmp_path / "cohort")
    out = tmp_path / "bundles"
    with pytest.raises(
        InputError, match=rf"drugs '{first}' and '{second}' would both be saved in .*{shown}"
    ) as e:
        train_bundles(config, out)
    assert "rename one of them" in str(e.value)
    assert cli.main(["train", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"'{first}' and '{second}'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cohort"
    ]  # nothing written, not even the --out folder


def test_distinct_drugs_get_distinct_signed_bundles(trained, tmp_path, monkeypatch) -> None:
    fitted, metadata, _ = trained
    drugs = ["DRUG_A", "DRUG_B"]
    fake = types.SimpleNamespace(
        models=dict.fromkeys(drugs, fitted),
        bundles={d: types.SimpleNamespace(metadata={**metadata, "drug": d}) for d in drugs},
        inputs={},
    )
    monkeypatch.setattr("organoidrx.pipeline._train.run_pipeline", lambda *a, **k: fake)
    (tmp_path / "key").write_bytes(KEY)
    paths = train_bundles(_config(tmp_path / "cohort"), tmp_path / "bundles", key=tmp_path / "key")
    assert sorted(p.name for p in paths.values()) == drugs
    assert [load_bundle(paths[d], key=KEY).drug for d in drugs] == drugs
    with pytest.raises(InputError, match="signature does not match"):
        load_bundle(paths["DRUG_A"], key=OTHER_KEY)


def test_a_linked_bundle_inside_a_train_folder_is_refused(trained, tmp_path, capsys) -> None:
    fitted, metadata, patients = trained
    elsewhere = save_bundle(tmp_path / "elsewhere" / "DRUG_B", fitted, metadata=metadata)
    bundles = tmp_path / "bundles"
    save_bundle(bundles / "DRUG_A", fitted, metadata=metadata)
    (bundles / "DRUG_B").symlink_to(elsewhere, target_is_directory=True)
    expression = tmp_path / "expression.tsv"
    patients.T.to_csv(expression, sep="\t", index_label="gene")
    out = tmp_path / "predictions.tsv"
    args = ["predict", "--bundle", str(bundles), "--expression", str(expression), "--out", str(out)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bundles / 'DRUG_B'}: is a symbolic link inside {bundles}" in err
    assert not out.exists()


# ------------------------------------------------------------------------------------------- a kernel bundle
TRAIN = "arrays/step1_train.npy"
DUAL = "arrays/step1_dual.npy"


@pytest.fixture(scope="module")
def kernel_fitted() -> Any:
    """A kernel-ridge pipeline (rbf, no coefficient vector) on 3 of 5 pathways of 14 samples."""
    rng = np.random.default_rng(4)
    scores = pd.DataFrame(rng.normal(size=(14, 5)), columns=[f"PATHWAY_{j}" for j in range(5)])
    y = np.tanh(scores["PATHWAY_0"]) + scores["PATHWAY_2"] ** 2
    return make_response_pipeline("kernel_ridge", top_k=3).fit(scores, y.to_numpy())


def _edit_array(name: str, edit: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path, Path], Path]:
    def tamper(bundle: Path, tmp: Path) -> Path:
        np.save(bundle / name, edit(np.load(bundle / name)))
        _resign(bundle)
        return bundle

    return tamper


def _flip(name: str) -> Callable[[Path, Path], Path]:
    def tamper(bundle: Path, tmp: Path) -> Path:
        data = bytearray((bundle / name).read_bytes())
        data[-1] ^= 0x01
        (bundle / name).write_bytes(bytes(data))
        return bundle

    return tamper


def _set_kernel(resign: bool = True, **values: Any) -> Callable[[Path, Path], Path]:
    def tamper(bundle: Path, tmp: Path) -> Path:
        _edit_manifest(bundle, lambda m: m["steps"][-1]["kernel"].update(values), resign=resign)
        return bundle

    return tamper


def _with(array: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    out = array.copy()
    out[index] = value
    return out


KERNEL_CASES = [
    ("bit flip in the training matrix", _flip(TRAIN), r"checksum mismatch; the bundle was modified"),
    ("bit flip in the dual coefficients", _flip(DUAL), r"checksum mismatch; the bundle was modified"),
    ("edited gamma", _set_kernel(resign=False, gamma=9.0), r"checksum mismatch; the bundle was modified"),
    (
        "NaN dual coefficient",
        _edit_array(DUAL, lambda a: _with(a, (0,), np.nan)),
        r"'step1_dual' holds 1 non-",
    ),
    (
        "infinite training value",
        _edit_array(TRAIN, lambda a: _with(a, (2, 1), np.inf)),
        r"'step1_train' holds 1",
    ),
    (
        "training matrix loses a row",
        _edit_array(TRAIN, lambda a: a[:-1]),
        r"one row per dual coefficient \(14\)",
    ),
    ("training matrix loses a column", _edit_array(TRAIN, lambda a: a[:, :-1]), r"must be 2 integer indices"),
    (
        "training matrix as a vector",
        _edit_array(TRAIN, lambda a: a.ravel()),
        r"'step1_train' must be a matrix",
    ),
    ("unknown kernel", _set_kernel(kernel="sigmoid"), r"kernel\.kernel must be one of linear, rbf"),
    ("negative gamma", _set_kernel(gamma=-1.0), r"kernel\.gamma must be a finite number > 0"),
    ("fractional degree", _set_kernel(degree=2.5), r"kernel\.degree must be an integer between 1 and 10"),
]


@pytest.mark.parametrize(("name", "tamper", "match"), KERNEL_CASES, ids=[c[0] for c in KERNEL_CASES])
def test_tampered_kernel_bundle_is_refused(name, tamper, match, kernel_fitted, tmp_path) -> None:
    bundle = save_bundle(tmp_path / "bundle", kernel_fitted, metadata={"drug": "DRUG_K"})
    loaded = load_bundle(bundle)  # the untouched bundle loads, with its kernel step and arrays
    assert loaded.manifest["steps"][-1]["kind"] == "kernel"
    assert {"step1_train", "step1_dual", "step1_selected"} <= set(loaded.arrays)
    with pytest.raises(InputError, match=match) as raised:
        load_bundle(tamper(bundle, tmp_path))
    assert "\n" not in str(raised.value) and str(raised.value).startswith(f"{bundle}: ")


def test_a_kernel_bundle_reading_every_pathway_in_ranked_order_is_refused(tmp_path) -> None:
    """A kernel model kept on every pathway reads them in the order it was fitted on; a bundle listing them in
    ranked order (as an earlier version wrote them, predicting with permuted columns) is refused."""
    rng = np.random.default_rng(5)
    scores = pd.DataFrame(rng.normal(size=(14, 4)), columns=[f"PATHWAY_{j}" for j in range(4)])
    y = np.tanh(scores["PATHWAY_3"]) + scores["PATHWAY_1"] ** 2
    fitted = make_response_pipeline("kernel_ridge", top_k=None).fit(scores, y.to_numpy())
    bundle = save_bundle(tmp_path / "bundle", fitted, metadata={"drug": "DRUG_K"})
    assert load_bundle(bundle).manifest["steps"][-1]["selected_features"] == list(scores.columns)
    ranked = [str(f) for f in fitted[-1].ranking_["feature"]]
    assert ranked != list(scores.columns)

    def old_layout(manifest: dict[str, Any]) -> None:
        manifest["steps"][-1]["selected_features"] = ranked
        manifest["required_features"] = ranked

    _edit_manifest(bundle, old_layout)
    with pytest.raises(InputError, match=r"reads all 4 pathways of its kernel model in ranked order"):
        load_bundle(bundle)
