"""`organoidrx proximity` end to end on small files written in the public formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from organoidrx.cli import main


def _files(tmp_path):
    network = tmp_path / "links.tsv"
    rows = ["symbol_1\tsymbol_2\tcombined_score"]
    rows += [f"G{i}\tG{i + 1}\t900" for i in range(30)] + [f"G{i}\tG{i + 5}\t800" for i in range(0, 25, 3)]
    rows += ["G0\tG29\t500", "Z1\tZ2\t999"]
    network.write_text("\n".join(rows) + "\n")
    targets = tmp_path / "targets.tsv"
    targets.write_text("drugs\ttargets\nALPHA,BETA\tG1,G2\nGAMMA\tG20\nOMEGA\tNOT_A_GENE\n")
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("SET_A\tdesc\tG3\tG4\tG5\nSET_B\tdesc\tG25\tG27\nSET_C\tdesc\tG10\tZ1\n")
    return network, targets, gmt


def test_cli_writes_one_row_per_drug_and_pathway(tmp_path, capsys):
    network, targets, gmt = _files(tmp_path)
    out = tmp_path / "prox.tsv"
    args = ["proximity", "--network", str(network), "--targets", str(targets), "--gene-sets", str(gmt)]
    args += [
        "--min-bin-size",
        "5",
        "--n-random",
        "200",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    table = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=[""])
    required = ["drug", "pathway", "n_targets", "n_pathway_genes", "closest_distance", "z", "p_value"]
    assert set(required) <= set(table.columns)
    assert len(table) == 4 * 3
    assert set(table["drug"]) == {"ALPHA", "BETA", "GAMMA", "OMEGA"}
    omega = table[table["drug"] == "OMEGA"]
    assert (~omega["computable"]).all() and omega["z"].isna().all()
    captured = capsys.readouterr()
    assert "distances" in captured.out and "computed" in captured.out
    assert "[" not in captured.err  # no progress bar when stderr is not a terminal
    first = out.read_bytes()
    assert main([*args, "--drugs", "gamma,ALPHA"]) == 0
    assert "read from cache" in capsys.readouterr().out
    again = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=[""])
    assert again["drug"].unique().tolist() == ["GAMMA", "ALPHA"]
    assert main(args) == 0
    assert out.read_bytes() == first


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    network, targets, gmt = _files(tmp_path)
    args = ["proximity", "--network", str(network), "--targets", str(targets), "--gene-sets", str(gmt)]
    assert main([*args, "--n-random", "0", "--out", str(tmp_path / "x.tsv")]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("organoidrx: error: n_random must be an integer between 1 and")
    )
    for flag, value, message in [
        ("--n-random", "1000000000", "n_random must be an integer between 1 and 1,000,000; got 1000000000"),
        (
            "--drugs",
            "GAMA,ZZZ",
            "targets.tsv: 2 drug(s) from the requested drugs not in this table: 'GAMA' (close matches: GAMMA); 'ZZZ'",
        ),
        ("--drugs", ",", "--drugs ',' names no drug"),
    ]:
        out = tmp_path / "y.tsv"
        assert main([*args, flag, value, "--out", str(out)]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(errors) == 1 and message in errors[0], errors
        assert not out.exists()


def test_cli_writes_the_table_as_parquet_and_h5ad(tmp_path):
    anndata = pytest.importorskip("anndata", reason="h5ad needs the anndata extra")
    pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra")
    network, targets, gmt = _files(tmp_path)
    args = [
        "--quiet",
        "proximity",
        "--network",
        str(network),
        "--targets",
        str(targets),
        "--gene-sets",
        str(gmt),
    ]
    args += ["--min-bin-size", "5", "--n-random", "50", "--cache-dir", str(tmp_path / "cache"), "--out"]
    assert main([*args, str(tmp_path / "p.tsv")]) == 0
    assert main([*args, str(tmp_path / "p.parquet")]) == 0
    assert main([*args, str(tmp_path / "p.out"), "--format", "h5ad"]) == 0
    text = pd.read_csv(tmp_path / "p.tsv", sep="\t", keep_default_na=False, na_values=[""])
    table = pd.read_parquet(tmp_path / "p.parquet")
    assert list(table.columns) == list(text.columns) and len(table) == len(text) == 12
    np.testing.assert_allclose(table["z"], text["z"], rtol=1e-9)  # the TSV has 10 significant digits
    adata = anndata.read_h5ad(tmp_path / "p.out")
    assert list(adata.obs_names) == ["ALPHA", "BETA", "GAMMA", "OMEGA"]
    z = adata.obsm["proximity_z"]
    assert list(z.columns) == ["SET_A", "SET_B", "SET_C"]
    wide = table.pivot(index="drug", columns="pathway", values="z").loc[list(z.index), list(z.columns)]
    np.testing.assert_array_equal(z.to_numpy(), wide.to_numpy())
    assert adata.obsm["proximity_proximal"].dtypes.eq(bool).all()
    assert "proximity_note" not in adata.obsm  # text columns stay in the long formats


def test_cli_maps_string_protein_ids_with_id_map(tmp_path, capsys):
    """A STRING-style network of ENSP ids with --id-map gives the table of the same network written in symbols."""
    network, targets, gmt = _files(tmp_path)
    links = pd.read_csv(network, sep="\t")
    symbols = sorted(set(links["symbol_1"]) | set(links["symbol_2"]))
    ensp = {s: f"9606.ENSP{i:011d}" for i, s in enumerate(symbols)}
    proteins = links.assign(symbol_1=links["symbol_1"].map(ensp), symbol_2=links["symbol_2"].map(ensp))
    proteins.columns = ["protein1", "protein2", "combined_score"]
    proteins.to_csv(tmp_path / "protein_links.tsv", sep="\t", index=False)
    pd.DataFrame({"symbol": symbols, "ensp": [ensp[s].removeprefix("9606.") for s in symbols]}).to_csv(
        tmp_path / "ensp_to_symbol.tsv", sep="\t", index=False
    )
    common = ["--targets", str(targets), "--gene-sets", str(gmt), "--min-bin-size", "5", "--n-random", "100"]
    common += ["--cache-dir", str(tmp_path / "cache")]
    assert (
        main(["proximity", "--network", str(network), *common, "--out", str(tmp_path / "by_symbol.tsv")]) == 0
    )
    mapped = [
        "--network",
        str(tmp_path / "protein_links.tsv"),
        "--id-map",
        str(tmp_path / "ensp_to_symbol.tsv"),
    ]
    assert main(["proximity", *mapped, *common, "--out", str(tmp_path / "by_ensp.tsv")]) == 0
    assert (tmp_path / "by_ensp.tsv").read_bytes() == (tmp_path / "by_symbol.tsv").read_bytes()
    capsys.readouterr()
    unmapped = ["--network", str(tmp_path / "protein_links.tsv"), *common, "--out", str(tmp_path / "x.tsv")]
    assert main(["proximity", *unmapped]) == 2
    assert "as --id-map, [network] id_map or id_map=" in capsys.readouterr().err
