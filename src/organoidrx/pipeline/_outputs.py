"""Writing a run's outputs: the run folder, the TSV tables, the patients x drugs table and ``run.json``."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from organoidrx import __version__
from organoidrx._utils import (
    InputError,
    atomic_write,
    check_writable_parent,
    examples,
    staged_folder,
    versions,
    write_tsv,
)
from organoidrx.evaluation._common import results_frame
from organoidrx.pipeline._config import PipelineConfig
from organoidrx.pipeline._inputs import check_inputs_unchanged, input_files

if TYPE_CHECKING:
    from organoidrx.pipeline._progress import Timer
    from organoidrx.pipeline._run import RunResult

__all__ = [
    "RunFolder",
    "is_run_folder",
    "parameters",
    "sensitivity_matrix",
    "write_run_json",
    "write_run_outputs",
    "write_tables",
    "write_tsv",
]


def _run_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``run.json`` organoidrx wrote into ``path``, or ``None`` when there is none (or another file)."""
    record = Path(path) / "run.json"
    try:
        if not record.is_file() or record.stat().st_size > 64 << 20:  # never open a FIFO or a device
            return None
        with open(record, encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, ValueError):
        return None
    ours = isinstance(content, dict) and "organoidrx" in content and "outputs" in content
    return content if ours else None


def is_run_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is the folder of a previous organoidrx run: it holds a ``run.json`` that organoidrx wrote."""
    return _run_record(path) is not None


_FIX = "pass --overwrite (Python: overwrite=True) to replace it whole, or choose another --out"


@dataclass
class RunFolder:
    """The output folder of one run, written in a temporary sibling and swapped in whole at the end.

    A run never mixes with what was in the folder before: it writes into ``.NAME.organoidrx-XXXXXXXX.tmp`` beside
    ``final`` and, only once every file is complete, that sibling replaces ``final``
    (:func:`organoidrx._utils.staged_folder`).

    Parameters
    ----------
    final : str or Path
        The output folder (``--out``).
    overwrite : bool, default False
        Replace a non-empty folder. Without it only a missing or empty folder is used, so a previous run (or any
        other file) is never deleted by accident.
    replace_runs : bool, default False
        Replace a previous organoidrx run folder (one holding its ``run.json``) even without ``overwrite``, when
        it holds nothing but that run's files (``run.json``, its ``outputs`` and the ``run_folders``); the demo
        uses it for its default folder. Any other non-empty folder still needs ``overwrite``.
    run_folders : tuple of str, default ()
        Folders a previous run of this kind writes beside its files (the demo's ``cohort``).

    Attributes
    ----------
    staging : Path or None
        The temporary sibling while :meth:`staged` is open.
    """

    final: Path
    overwrite: bool = False
    replace_runs: bool = False
    run_folders: tuple[str, ...] = ()
    staging: Path | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.final = Path(os.path.abspath(self.final))

    def check(self, inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
        """Raise :class:`InputError` when the run may not write its folder (nothing is written here).

        ``inputs`` are the run's input files: a folder holding one of them is never replaced.
        """
        out = self.final
        if out.is_symlink():
            raise InputError(
                f"{out}: --out is a symbolic link (to {os.readlink(out)}); pass the folder it points to, or "
                "choose another --out."
            )
        if not out.exists():
            check_writable_parent(out, flag="--out")  # the staging sibling is made in the nearest folder
            return
        if not out.is_dir():
            raise InputError(f"{out}: --out is a file, not a folder; choose another --out.")
        check_writable_parent(out, flag="--out")
        real = out.resolve()
        cwd = Path(os.getcwd()).resolve()
        if cwd == real or real in cwd.parents:
            raise InputError(
                f"{out}: --out is the current folder or holds it, and the run replaces its folder whole; choose "
                "another --out (e.g. a new folder below the current one)."
            )
        entries = sorted(p.name for p in out.iterdir())
        if not entries:
            return
        for path in inputs:
            source = Path(path).resolve()
            if real in source.parents:
                raise InputError(
                    f"{out}: --out holds the run's input {source}, and the run replaces its folder whole (the "
                    "input would be deleted); choose another --out."
                )
        previous = _run_record(out)
        if self.overwrite:
            return
        if previous is not None and self.replace_runs:
            listed = previous["outputs"] if isinstance(previous["outputs"], list) else []
            known = {"run.json", *map(str, listed), *self.run_folders}
            foreign = [name for name in entries if name not in known]
            if not foreign:
                return
            raise InputError(
                f"{out}: the folder holds a previous organoidrx run and files it did not write "
                f"({examples(foreign)}); pass --overwrite (Python: overwrite=True) to replace it whole, deleting "
                "them, or choose another --out."
            )
        if previous is not None:
            raise InputError(f"{out}: the --out folder holds a previous organoidrx run (run.json); {_FIX}.")
        raise InputError(
            f"{out}: the --out folder is not empty ({examples(entries)}) and holds no organoidrx run "
            "(no run.json written by organoidrx); pass --overwrite (Python: overwrite=True) to replace it whole, "
            "deleting those files, or choose another --out."
        )

    @contextmanager
    def staged(self, inputs: Iterable[str | os.PathLike[str]] = ()) -> Iterator[Path]:
        """Check the folder, yield the temporary sibling to write into, and swap it in when the block succeeds.

        The check is repeated just before the swap, so a folder filled by someone else meanwhile is not
        replaced without ``overwrite``.
        """
        if self.staging is not None:
            raise RuntimeError(f"{self.final}: the run folder is already staged in {self.staging}.")
        listed = list(inputs)
        self.check(listed)
        try:
            with staged_folder(self.final, before_swap=lambda: self.check(listed)) as staging:
                self.staging = staging
                yield staging
        finally:
            self.staging = None

    @property
    def write_dir(self) -> Path:
        """Where files are written now: the staging sibling while staged, else the final folder."""
        return self.final if self.staging is None else self.staging

    def relocate(self, value: Any) -> Any:
        """``value`` with every path (or string) inside the staging sibling mapped to the same place in ``final``.

        Lists, tuples and dicts are mapped item by item, so records of the run name the folder the user sees.
        """
        if isinstance(value, Mapping):
            return {k: self.relocate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.relocate(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.relocate(v) for v in value)
        if self.staging is None or not isinstance(value, str | Path):
            return value
        text = str(value)
        for root in dict.fromkeys((str(self.staging), str(self.staging.resolve()))):
            if text == root or text.startswith(root + os.sep):
                moved = str(self.final) + text[len(root) :]
                return Path(moved) if isinstance(value, Path) else moved
        return value


def parameters(cfg: PipelineConfig) -> dict[str, Any]:
    params = cfg.to_dict()
    params.pop("source", None)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def sensitivity_matrix(patient_predictions: pd.DataFrame) -> pd.DataFrame:
    """Patients x drugs table of predicted response (first column ``patient``; lower = more sensitive).

    Every patient is scored with every drug's model, so this table ranks drugs within a patient as well as
    patients within a drug; survival is only tested on the patients treated with each drug.
    """
    wide = patient_predictions.pivot(index="patient", columns="drug", values="predicted_response")
    wide = wide.reindex(
        index=pd.unique(patient_predictions["patient"]), columns=pd.unique(patient_predictions["drug"])
    )
    wide.columns.name = None
    return wide.rename_axis("patient").reset_index()


def write_tables(result: RunResult, folder: str | os.PathLike[str] | None = None) -> None:
    """Write the run's TSV tables into ``folder`` (default ``result.out_dir``)."""
    out = Path(result.out_dir if folder is None else folder)
    write_tsv(result.proximity, out / "proximity.tsv")
    write_tsv(result.biomarkers, out / "biomarkers.tsv")
    write_tsv(result.organoid_cv, out / "organoid_cv.tsv")
    write_tsv(result.cv_predictions, out / "organoid_cv_predictions.tsv")
    if result.model_selection is not None:
        write_tsv(result.model_selection, out / "model_selection.tsv")
    if result.patient_predictions is not None:
        write_tsv(result.patient_predictions, out / "patient_predictions.tsv")
        write_tsv(sensitivity_matrix(result.patient_predictions), out / "patient_drug_sensitivity.tsv")
    if result.survival is not None:
        write_tsv(result.survival, out / "survival.tsv")
    for results, name in (
        (result.response_auc, "response_auc.tsv"),
        (result.interactions, "interaction.tsv"),
    ):
        table = results_frame(results)
        if table is not None:
            write_tsv(table, out / name)


def jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return value


def _model_selection(result: RunResult) -> dict[str, Any]:
    """``{"model_selection": {drug: choice}}`` when the run chose among candidate models, else nothing."""
    from organoidrx.models import selection_record

    table = result.model_selection
    if table is None:
        return {}
    return {
        "model_selection": {str(d): selection_record(rows) for d, rows in table.groupby("drug", sort=False)}
    }


def write_run_json(
    cfg: PipelineConfig,
    result: RunResult,
    matching: Mapping[str, Any],
    folder: RunFolder | str | os.PathLike[str] | None = None,
) -> None:
    """Write ``run.json`` into ``folder`` (default ``result.out_dir``).

    ``outputs`` lists every file of the folder but ``run.json`` itself, so it names exactly the files of this
    run when the folder was fresh (a staged :class:`RunFolder`). Paths inside a staging folder are recorded at
    their final place. Only ``timings_seconds`` differs between two runs of the same inputs into one folder.
    """
    if not isinstance(folder, RunFolder):
        folder = RunFolder(Path(result.out_dir if folder is None else folder))
    out = folder.write_dir
    record = {
        "organoidrx": __version__,
        "config": str(cfg.source),
        "seed": cfg.seed,
        "parameters": parameters(cfg),
        "mode": "preclinical-only" if result.survival is None else "organoids and patients",
        "drugs": list(result.bundles),
        "matching": matching,
        "versions": versions(),
        "inputs": result.inputs,
        **_model_selection(result),
        "timings_seconds": {k: round(v, 4) for k, v in result.timings.items()},
        "warnings": result.warnings,
        "outputs": sorted(
            p.name
            for p in out.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name != "run.json"
        ),
    }
    with atomic_write(out / "run.json", "w", encoding="utf-8") as handle:
        json.dump(jsonable(folder.relocate(record)), handle, indent=2, allow_nan=False)
        handle.write("\n")


def shown_paths(value: Any, out: Path) -> Any:
    """Paths (and path strings) inside the run folder written relative to it, so the report's bytes do not depend on
    where the run was written; mappings and lists are mapped item by item."""
    if isinstance(value, dict):
        return {k: shown_paths(v, out) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(shown_paths(v, out) for v in value)
    if isinstance(value, str | Path) and str(value).startswith(f"{out}{os.sep}"):
        return str(value)[len(str(out)) + 1 :]
    return str(value) if isinstance(value, Path) else value


def write_run_outputs(
    cfg: PipelineConfig,
    result: RunResult,
    matching: Mapping[str, Any],
    folder: RunFolder,
    timer: Timer,
    *,
    report: bool,
) -> None:
    """Write the tables, the report and ``run.json`` into the staged ``folder``.

    Raises :class:`InputError` first if an input file changed since the run read it (the checksums recorded in
    ``result.inputs`` would not describe the results).
    """
    check_inputs_unchanged(cfg, result.inputs)
    out = folder.write_dir
    with timer.phase("write"):
        write_tables(result, out)
    result.timings = dict(timer.timings)
    if report:
        from organoidrx.report import write_run_report

        tic = time.perf_counter()
        timer.report("report", 0, 1)
        inputs = {
            name: {
                "path": shown_paths(folder.relocate(path), folder.final),
                "sha256": result.inputs.get(name, {}).get("sha256", "file not found"),
            }
            for name, path in input_files(cfg).items()
        }
        write_run_report(
            out,
            # where the run was computed (dask) does not change a number: run.json records it, the report not
            parameters=shown_paths(
                folder.relocate({k: v for k, v in parameters(cfg).items() if k != "dask"}), folder.final
            ),
            proximity=result.proximity,
            biomarkers=result.biomarkers,
            organoid_cv=result.organoid_cv,
            cv_predictions=result.cv_predictions,
            model_selection=result.model_selection,
            patient_predictions=result.patient_predictions,
            survival=result.survival,
            survival_results=result.survival_results or None,
            interactions=result.interactions or None,
            response_auc=result.response_auc or None,
            inputs=inputs,
            warnings=result.warnings,
            primary_feature_set="proximal",
        )
        result.report = folder.final / "report.html"
        result.timings["report"] = time.perf_counter() - tic
        timer.report("report", 1, 1)
    write_run_json(cfg, result, matching, folder)
