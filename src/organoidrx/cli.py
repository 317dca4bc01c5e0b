"""Command-line interface: parse arguments, call the library, print. No science lives here.

Every subcommand is registered by a ``_add_<name>`` function below and runs through ``_cmd_<name>``. Errors in the
user's input end as one line on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from organoidrx import __version__
from organoidrx._compute import DASK, dask_backend
from organoidrx._memory import MEMORY
from organoidrx._registry import KINDS, Option, get_method, list_methods, method_names
from organoidrx._utils import TEMPORARY_TAG, InputError, check_output_file
from organoidrx.io._expression import DUPLICATES
from organoidrx.scoring import MAX_SIZE, MIN_SIZE

__all__ = ["main"]

logger = logging.getLogger("organoidrx")

Handler = Callable[[argparse.Namespace], int]

#: The documented input errors: a bad value or file (:class:`~organoidrx.InputError`) and a file that cannot be
#: opened. They end as one line on stderr and exit status 2; anything else is an internal error (exit status 1).
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    InputError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
#: A full disk, a quota or a file-size limit: not the input's fault nor a bug; also one line and exit status 2.
NO_SPACE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS") if hasattr(errno, name)
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line naming the flag (and where help is), exit status 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _integer(minimum: int, maximum: int | None = None, *, also: tuple[int, ...] = ()) -> Callable[[str], int]:
    """An argparse type: an integer in ``minimum..maximum`` (or one of ``also``), else a message naming it."""
    shown = (
        f"an integer >= {minimum:,}" if maximum is None else f"an integer between {minimum:,} and {maximum:,}"
    )
    shown += "".join(f" or {a}" for a in also)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {shown}; got {text!r}") from None
        if value not in also and (value < minimum or (maximum is not None and value > maximum)):
            raise argparse.ArgumentTypeError(f"must be {shown}; got {text}")
        return value

    return parse


SEED = _integer(0)
THREADS = _integer(1, also=(-1,))
PERMUTATIONS = _integer(0, 10**6)


# --------------------------------------------------------------------------------------- registry options
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_option(
    parser: argparse.ArgumentParser, option: Option, *, default: Any = ..., note: str = ""
) -> None:
    """A command-line flag from an :class:`Option`: its type, choices, default and help written once."""
    kinds = option.type if isinstance(option.type, tuple) else (option.type,)
    value_type: Callable[[str], Any] = (
        _boolean if bool in kinds else float if float in kinds else int if int in kinds else str
    )
    shown = option.default if default is ... else default

    def parse(text: str) -> Any:
        try:
            return option.validate(value_type(text))
        except (ValueError, InputError) as exc:  # the message without the keyword: argparse names the flag
            message = (
                str(exc).removeprefix(f"{option.name} ").rstrip(".") if isinstance(exc, InputError) else ""
            )
            kind = {float: "a number", int: "an integer", _boolean: "true or false"}.get(value_type, "text")
            raise argparse.ArgumentTypeError(message or f"must be {kind}; got {text!r}") from None

    parser.add_argument(
        _flag(option.name),
        type=parse,
        choices=option.allowed(),
        metavar="{true,false}" if bool in kinds else None,
        default=shown,
        help=f"{option.help}{note}" + ("" if shown is None else f" (default {_shown(shown)})"),
    )


def _shown(value: Any) -> str:
    """A default as the command line writes it (booleans as ``true``/``false``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _boolean(text: str) -> bool:
    """``true``/``false`` (also ``yes``/``no``, ``1``/``0``, any case), as a config file writes booleans."""
    word = text.strip().lower()
    if word in {"true", "yes", "1"}:
        return True
    if word in {"false", "no", "0"}:
        return False
    raise ValueError(text)


def _add_method_arguments(parser: argparse.ArgumentParser, kind: str, *, flag: str) -> None:
    """``flag`` choosing a registered method of ``kind``, and a flag for every option of every such method."""
    default = get_method(kind, method_names(kind)[0]).name
    parser.add_argument(
        flag,
        dest=kind if flag != "--method" else "method",
        choices=method_names(kind),
        default=default,
        help=f"{kind} ('organoidrx methods' lists them; default {default})",
    )
    seen: dict[str, list[str]] = {}
    options: dict[str, Option] = {}
    for method in list_methods(kind):
        for option in method.options:
            seen.setdefault(option.name, []).append(f"{method.name}: {_shown(option.default)}")
            options.setdefault(option.name, option)
    for name, option in options.items():
        _add_option(parser, option, default=None, note=f" [{kind} option; default {', '.join(seen[name])}]")


def _method_options(args: argparse.Namespace, kind: str, name: str) -> dict[str, Any]:
    """The options given on the command line for method ``name``; a flag of another method is an error."""
    method = get_method(kind, name)
    own = {o.name for o in method.options}
    given: dict[str, Any] = {}
    for other in list_methods(kind):
        for option in other.options:
            value = getattr(args, option.name, None)
            if value is None:
                continue
            if option.name not in own:
                raise InputError(f"{_flag(option.name)} is not an option of {kind} {name!r}; drop it.")
            given[option.name] = value
    return method.resolve(given, where="")


# ------------------------------------------------------------------------------------------------ methods
def _add_methods(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "methods",
        help="list every registered scorer, network measure, alignment and response model with its options",
    )
    p.add_argument("--kind", choices=KINDS, default=None, help="only this kind of method")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(handler=_cmd_methods)


def _cmd_methods(args: argparse.Namespace) -> int:
    import json

    methods = list_methods(args.kind)
    if args.json:
        print(json.dumps([m.to_dict() for m in methods], indent=2))
        return 0
    kind = None
    for method in methods:
        if method.kind != kind:
            kind = method.kind
            print(f"{'' if method is methods[0] else chr(10)}{kind}s:")
        flags = ("deterministic" if method.deterministic else "seeded") + (
            "" if method.sample_independent else ", cohort-dependent"
        )
        print(f"  {method.name:<12} {method.summary} [{flags}]")
        print(f"  {'':<12} {method.reference}")
        for option in method.options:
            allowed = option.allowed()
            extra = f"; one of {', '.join(map(str, allowed))}" if allowed else ""
            print(f"  {'':<12}   {option.name} = {option.default!r}{extra}: {option.help}")
    return 0


# --------------------------------------------------------------------------------------------------- demo
def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the pipeline on the bundled synthetic cohort (no files, no network)")
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: ./organoidrx-demo, replaced whole when it holds a previous demo run and "
        "nothing else)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a non-empty --out folder whole (its files are deleted)",
    )
    p.add_argument("--seed", type=SEED, default=0, help="random seed of the synthetic cohort (default 0)")
    p.add_argument(
        "--n-permutations", type=PERMUTATIONS, default=200, help="whole-pipeline permutations (default 200)"
    )
    p.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from organoidrx.datasets import make_synthetic_cohort
    from organoidrx.pipeline import run_pipeline
    from organoidrx.pipeline._outputs import RunFolder

    # the default folder is the demo's own: a previous run there is replaced without --overwrite
    out = Path(args.out) if args.out is not None else Path("organoidrx-demo")
    folder = RunFolder(out, overwrite=args.overwrite, replace_runs=args.out is None, run_folders=("cohort",))
    folder.check()
    cohort = make_synthetic_cohort(random_state=args.seed)
    print(cohort.summary())
    with folder.staged() as staging:  # cohort and run are written together and replace the folder whole
        # the configuration written is the one run: `organoidrx run` of it reproduces the demo
        settings = {"n_permutations": args.n_permutations, "n_random_sets": 20}
        paths = cohort.write(staging / "cohort", settings=settings)
        config = folder.final / "cohort" / paths["config"].name
        print(f"Cohort files: {config.parent} (run configuration: {config})")
        print(f"Running the pipeline with {args.n_permutations} permutations and 20 random pathway sets ...")
        result = run_pipeline(paths["config"], folder, progress=args.progress)
    _print_run_summary(result)
    return 0


def _print_run_summary(result: Any) -> None:
    if result.survival is not None:

        def hazard(value: float, lower: float, upper: float) -> str:
            return f"{value:.2f} ({lower:.2f}-{upper:.2f})" if math.isfinite(value) else "not estimable"

        several = len(result.survival) > 1  # q over the run's drugs beside each p
        for row in result.survival.itertuples(index=False):
            hr = "HR = " + hazard(
                row.hazard_ratio_unadjusted, row.hr_unadjusted_ci_lower, row.hr_unadjusted_ci_upper
            )
            if isinstance(row.adjusted_for, str) and row.adjusted_for:
                hr += f", adjusted for {row.adjusted_for.replace(';', ', ')} " + hazard(
                    row.hazard_ratio, row.hr_ci_lower, row.hr_ci_upper
                )
            permutation = (
                f"{row.permutation_p:.3g} ({row.n_permutations} permutations"
                + (f"; q = {row.permutation_q:.3g})" if several else ")")
                if row.n_permutations
                else "not run"
                if math.isfinite(row.logrank_p)
                else "not estimable (no log-rank statistic)"
            )
            logrank = f"{row.logrank_p:.3g}" + (f" (q = {row.logrank_q:.3g})" if several else "")
            both = (
                f", the larger of the two p = {row.p:.3g}" + (f" (q = {row.q:.3g})" if several else "")
                if math.isfinite(row.p)
                else ""
            )
            print(
                f"{row.drug}: {row.n_responder} predicted responders vs {row.n_non_responder} non-responders, "
                f"log-rank p = {logrank}, {hr}, whole-pipeline permutation p = {permutation}{both}"
            )
    else:
        print(f"Preclinical-only run: {', '.join(result.bundles)}")
    if result.warnings:
        print(
            f"{len(result.warnings)} warning(s); see "
            + ("the report" if result.report is not None else "run.json")
        )
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    print(f"Time: {timing}")
    if result.report is not None:
        print(f"Report: {Path(result.report).resolve()}")
    else:
        print(f"Outputs (no report): {Path(result.out_dir).resolve()}")


# ---------------------------------------------------------------------------------------------------- run
def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="the whole pipeline of a config file: proximity, ssGSEA, organoid models, patients, report",
        description="Run every step of CONFIG.toml and write proximity.tsv, biomarkers.tsv, organoid_cv.tsv, "
        "patient_predictions.tsv, survival.tsv, report.html with PNG figures and run.json into --out.",
    )
    p.add_argument("config", help="run configuration (TOML; paths relative to it)")
    p.add_argument(
        "--out", required=True, help="output folder: new or empty, or replaced whole with --overwrite"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a non-empty --out folder whole (its files are deleted)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run work estimated to take longer than 12 hours (set [settings] force = true)",
    )
    p.add_argument(
        "--n-permutations", type=PERMUTATIONS, default=None, help="override [settings] n_permutations"
    )
    p.add_argument("--no-report", action="store_true", help="skip report.html and the figures")
    _add_option(p, DASK, note=" (overrides [compute] dask)")
    p.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from organoidrx.pipeline import run_pipeline

    overrides: dict[str, Any] = {} if args.n_permutations is None else {"n_permutations": args.n_permutations}
    if args.force:
        overrides["force"] = True
    if args.dask is not None:
        overrides["dask"] = args.dask
    result = run_pipeline(
        args.config,
        args.out,
        report=not args.no_report,
        overwrite=args.overwrite,
        progress=args.progress,
        **overrides,
    )
    _print_run_summary(result)
    return 0


# -------------------------------------------------------------------------------------------------- train
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fit the organoid model of every drug of a config and save it as a bundle (JSON + NumPy, no pickle)",
    )
    p.add_argument("config", help="run configuration (TOML)")
    p.add_argument(
        "--out",
        required=True,
        help="folder receiving one bundle per drug: new or empty, or replaced whole with --overwrite",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a non-empty --out folder whole (bundles of an earlier training never mix with these)",
    )
    p.add_argument(
        "--sign-key",
        default=None,
        metavar="FILE",
        help="sign every bundle with HMAC-SHA256 using the secret in FILE (at least 16 bytes, e.g. made by "
        "'openssl rand -hex 32'); the checksum alone detects damage, not forgery",
    )
    p.set_defaults(handler=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from organoidrx.pipeline import train_bundles

    key = None if args.sign_key is None else Path(args.sign_key)
    paths = train_bundles(args.config, args.out, key=key, progress=args.progress, overwrite=args.overwrite)
    for drug, path in paths.items():
        print(f"{drug}: {path}")
    return 0


# ------------------------------------------------------------------------------------------------ predict
def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict drug response of new samples with a bundle from 'train'")
    p.add_argument("--bundle", required=True, help="a bundle, or the folder written by 'train'")
    p.add_argument("--expression", required=True, help="expression file, genes x samples")
    p.add_argument("--gene-sets", default=None, help="GMT file (default: the gene sets stored in the bundle)")
    p.add_argument(
        "--out",
        required=True,
        help="output: TSV or Parquet with patient, drug, predicted_response, group; or h5ad with patients x drugs "
        "in .obsm['predicted_response'] and .obsm['predicted_group'] (a copy of the input when it is h5ad)",
    )
    _add_format(p)
    p.add_argument(
        "--verify-key",
        default=None,
        metavar="FILE",
        help="accept only bundles signed with the secret in FILE (the --sign-key of 'train')",
    )
    p.add_argument(
        "--reference",
        choices=("bundle", "cohort"),
        default="bundle",
        help="standardise with the training patients' scale stored in the bundle (default; needs a bundle trained "
        "with patients and alignment 'standardize'; with a scorer that scores each sample alone, a patient's "
        "score never depends on the others in the file) or over the samples given, as the paper did per cohort (3+)",
    )
    _add_option(p, DUPLICATES)
    p.set_defaults(
        handler=_cmd_predict,
        output_files=("out",),
        input_files=("bundle", "expression", "gene_sets", "verify_key"),
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    from organoidrx.pipeline import predict_with_bundle

    key = None if args.verify_key is None else Path(args.verify_key)
    table = predict_with_bundle(
        args.bundle,
        args.expression,
        gene_sets=args.gene_sets,
        out=args.out,
        format=args.format,
        key=key,
        reference=args.reference,
        duplicates=args.duplicates,
    )
    how = (
        "standardised with the training patients' scale (--reference bundle)"
        if args.reference == "bundle"
        else "standardised over these samples (--reference cohort)"
    )
    print(
        f"Predicted {table['patient'].nunique()} samples for {table['drug'].nunique()} drug(s), {how} -> {args.out}"
    )
    return 0


# -------------------------------------------------------------------------------------------------- score
def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="pathway scores of every sample with any registered scorer (ssGSEA: gseapy 1.3's scores)",
        description="Score every sample of an expression matrix (genes x samples file) against gene sets; "
        "writes a samples x pathways table. 'organoidrx methods' lists the scorers and their options.",
    )
    p.add_argument("--expression", required=True, help="expression file, genes x samples (TSV/CSV/GCT/...)")
    p.add_argument("--gene-sets", required=True, help="GMT file (name, description, genes...)")
    _add_method_arguments(p, "scorer", flag="--method")
    _add_option(p, DUPLICATES)
    _add_option(p, MIN_SIZE)
    _add_option(p, MAX_SIZE)
    p.add_argument("--threads", type=THREADS, default=1, help="threads (default 1; -1 for all CPUs)")
    _add_option(p, DASK)
    p.add_argument(
        "--out",
        required=True,
        help="output: TSV or Parquet with column 'sample', then one column per pathway; or h5ad with the scores "
        "in .obsm['score_METHOD'] (a copy of the input when it is h5ad)",
    )
    _add_format(p)
    _add_option(p, MEMORY)
    p.add_argument(
        "--report", default=None, help="optional TSV listing every gene set, kept or dropped and why"
    )
    p.set_defaults(
        handler=_cmd_score, output_files=("out", "report"), input_files=("expression", "gene_sets")
    )


def _add_format(p: argparse.ArgumentParser) -> None:
    from organoidrx.io._outputs import OUTPUT_FORMATS

    p.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default=None,
        help="format of --out (default: from its extension, .parquet/.pq or .h5ad; else tsv)",
    )


def _cmd_score(args: argparse.Namespace) -> int:
    from organoidrx._utils import locked_folder, remove_stale_staging, write_tsv
    from organoidrx.io import read_gmt
    from organoidrx.scoring import score_file

    options = _method_options(args, "scorer", args.method)
    report_progress = args.progress or (lambda phase, done, total: None)
    report_progress("read", 0, 1)
    gene_sets = read_gmt(args.gene_sets)
    report_progress("read", 1, 1)
    out = Path(args.out)
    with contextlib.ExitStack() as stack:
        # with --report, the scores are written beside out and moved into place only once the report is written
        # too, so a failure never leaves new scores beside an old report (or the other way round)
        written = out
        if args.report is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_staging(out)  # scratch folders of killed runs (older than an hour, unlocked)
            scratch = stack.enter_context(
                tempfile.TemporaryDirectory(
                    prefix=f".{out.name}.{TEMPORARY_TAG}", suffix=".tmp", dir=out.parent
                )
            )
            stack.enter_context(locked_folder(scratch))  # a live run's scratch is never taken for stale
            written = Path(scratch) / out.name
        with dask_backend(args.dask):
            result = score_file(
                args.expression,
                gene_sets,
                written,
                method=args.method,
                format=args.format,
                min_size=args.min_size,
                max_size=args.max_size,
                memory=args.memory,
                n_jobs=args.threads,
                duplicates=args.duplicates,
                progress=None
                if args.progress is None
                else (lambda done, total: report_progress("score", done, total)),
                **options,
            )
        if args.report is not None:
            write_tsv(result.report, args.report)
            os.replace(written, out)
    shown = ", ".join(f"{k}={v}" for k, v in options.items())
    how = f"in chunks of {result.chunk_samples} samples" if result.streamed else "read whole"
    print(
        f"Scored {result.n_samples} samples on {len(result.pathways)} of {len(result.report)} gene sets with "
        f"{args.method}{f' ({shown})' if shown else ''}, {how} -> {args.out}"
    )
    return 0


# ------------------------------------------------------------------------------------------------ inspect
def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="say what a data file is, how organoidrx reads it, and what is wrong with it",
        description="Detect the format of FILE (expression matrix, GEO series matrix, GMT, network, drug targets or "
        "responses, clinical table, TCGA biotab / CDR, GDC manifest ...), read it with the matching organoidrx "
        "reader and print its shape, identifier type, value range and scale, missing values and problems. The "
        "package's own files are summarised too: a run configuration, a model bundle or a folder of them, and a "
        "distance cache entry (checked in full).",
    )
    p.add_argument("file", help="the file to inspect (gzipped text is fine)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_inspect)


def _cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from organoidrx.io import inspect_file

    path = Path(args.file)
    own = _inspect_own_format(path)  # the package's own bundles and configs; every other file: inspect_file
    if own is None:
        report = inspect_file(path)
        print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else str(report))
    elif args.json:
        print(json.dumps(own, indent=2, default=str))
    else:
        print("\n".join(f"{key + ':':<12} {value}" for key, value in own.items()))
    return 0


def _inspect_own_format(path: Path) -> dict[str, Any] | None:
    """A summary of a model bundle (or its manifest), a folder of bundles (or its index), a run configuration or a
    distance cache entry (read and checked in full); ``None`` for any other file."""
    from organoidrx.models._bundle import MANIFEST, SIGNATURE, _is_bundle_zip, _is_damaged_zip, load_bundle
    from organoidrx.network._cache import _ENTRY
    from organoidrx.pipeline._bundle_index import INDEX

    # a bundle's manifest, a folder's index: inspect the bundle, the folder
    if path.name in (MANIFEST, INDEX) and path.is_file():
        path = path.parent
    matrix = path.with_suffix(".npy")
    cached = _ENTRY.fullmatch(matrix.name)
    if path.suffix in (".npy", ".json") and cached is not None and path.is_file():
        from organoidrx.network import cache_entries
        from organoidrx.network._cache import _verified

        entries = cache_entries(path.parent)  # the folder's listing; this matrix alone is read in full below
        entry = entries[entries["file"] == matrix.name]
        if entry.empty:  # a checksum file without its matrix
            return {"file": str(path), "format": "distance cache checksum file, without its matrix"}
        row = entry.iloc[0].to_dict()
        if row["status"] == "ok":
            verified = _verified(matrix, int(row["nodes"]), row["network_sha256"], cached.group("hash"))
            row["status"] = f"{verified} (read and checked in full)"
        return {
            "file": str(path),
            "format": "distance cache - shortest-path lengths organoidrx stored (organoidrx cache list)",
            "nodes": f"{row['nodes']:,}",
            "bytes": f"{row['bytes']:,} (matrix and checksum file)",
            "network": row["network_sha256"] or "unknown (checksum file missing or unreadable)",
            "last used": row["last_used"],
            "status": row["status"],
        }
    if path.suffix == ".toml" and path.is_file():
        from organoidrx.pipeline import read_config

        cfg = read_config(path)
        inputs = {k: v for k, v in vars(cfg).items() if isinstance(v, Path) and k != "source"}
        missing = [f"{k} ({v})" for k, v in inputs.items() if not v.exists()]
        return {
            "file": str(path),
            "format": "config - organoidrx run configuration (read_config)",
            "drugs": ", ".join(cfg.drugs),
            "methods": f"scorer {cfg.scorer}, measure {cfg.measure}, model {'+'.join(cfg.model_candidates)}, alignment {cfg.alignment}",
            "mode": "preclinical and patients" if cfg.has_patients else "preclinical only (no [patients])",
            "inputs": f"{len(inputs)} files",
            "problems": "; ".join(f"missing {m}" for m in missing) or "none found",
        }
    if path.is_dir() and not (path / MANIFEST).exists():
        found = sorted(p.parent.name for p in path.glob(f"*/{MANIFEST}"))
        if not found:
            return None
        from organoidrx.pipeline._bundle_index import load_bundle_folder

        try:  # as predict reads the folder: every bundle verified, the set against the index
            load_bundle_folder(path, None)
            problems = "none found (every bundle's checksum verified" + (
                ", the set is the one bundles.json lists)"
                if (path / INDEX).is_file() and not (path / INDEX).is_symlink()
                else "; no bundles.json, so whether the set is one training's cannot be checked)"
            )
        except InputError as exc:
            problems = str(exc)
        return {
            "file": str(path),
            "format": "bundles - a folder written by 'organoidrx train'",
            "bundles": ", ".join(found),
            "problems": problems,
        }
    if path.is_dir() or (
        path.suffix == ".zip" and path.is_file() and (_is_bundle_zip(path) or _is_damaged_zip(path))
    ):
        bundle = load_bundle(path)
        meta = bundle.metadata
        return {
            "file": str(path),
            "format": "bundle - organoidrx model bundle (checksum verified)",
            "drug": bundle.drug,
            "pathways": f"{len(bundle.feature_names)} inputs, {len(bundle.required_features)} used by the model",
            "signed": "yes (HMAC-SHA256; verify with predict --verify-key)"
            if SIGNATURE in bundle.manifest
            else "no",
            "reference": "training patients' scale stored"
            if meta.get("patient_reference")
            else "none (predict --reference cohort)",
            "cut-off": meta.get("cutoff", "none"),
        }
    return None


# ---------------------------------------------------------------------------------------------- proximity
def _add_proximity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "proximity",
        help="network proximity z-scores of every pathway to every drug's targets (Guney et al. 2016)",
        description="How close each gene set lies to each drug's targets on the largest connected component of a "
        "protein interaction network (--measure: the closest distance by default, the mean shortest distance, "
        "separation, random walk with restart or the closest distance of a DIAMOnD module), with z-scores and "
        "p-values against degree-binned random sets. Shortest-path distances are cached on disk per network. "
        "Pathways with z <= -1.2816 are drug-proximal.",
    )
    p.add_argument(
        "--network", required=True, help="edge table (STRING links, dmfind or any A/B/score table)"
    )
    p.add_argument(
        "--edge-columns", default=None, help="endpoint and score columns, e.g. symbol_1,symbol_2,score"
    )
    p.add_argument(
        "--id-map",
        default=None,
        help="table mapping the network's ids to gene symbols (e.g. STRING's protein.info file), as [network] "
        "id_map",
    )
    p.add_argument(
        "--min-score",
        type=float,
        default=700,
        help="keep edges with score > this (default 700; -1 keeps all)",
    )
    p.add_argument(
        "--targets", required=True, help="drug targets: long drug,target or wide drugs,targets table"
    )
    p.add_argument("--gene-sets", required=True, help="GMT file (name, description, genes...)")
    p.add_argument(
        "--drugs",
        default=None,
        help="comma-separated drugs to score, any known spelling (default: every drug)",
    )
    p.add_argument("--n-random", type=int, default=1000, help="random draws of the null (default 1000)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    p.add_argument("--min-bin-size", type=_integer(1), default=100, help="nodes per degree bin (default 100)")
    _add_method_arguments(p, "measure", flag="--measure")
    p.add_argument(
        "--threads", type=THREADS, default=1, help="threads for the random draws (default 1; -1 for all CPUs)"
    )
    _add_option(p, DASK)
    p.add_argument(
        "--cache-dir",
        default=None,
        help="distance cache folder (default $ORGANOIDRX_CACHE_DIR or $XDG_CACHE_HOME/organoidrx)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the distance cache")
    _add_option(
        p,
        MEMORY,
        note="; here it bounds the distance matrix (n_nodes^2 bytes) and 256 MiB of working space, and unset means "
        "all the memory available, not half",
    )
    p.add_argument(
        "--out",
        required=True,
        help="output: TSV or Parquet, one row per drug x pathway; or h5ad with one obs per drug and every "
        "numeric column as a drugs x pathways matrix in .obsm['proximity_COLUMN']",
    )
    _add_format(p)
    p.set_defaults(
        handler=_cmd_proximity,
        output_files=("out",),
        input_files=("network", "id_map", "targets", "gene_sets"),
    )


def _cmd_proximity(args: argparse.Namespace) -> int:
    import time

    from organoidrx._memory import memory_budget
    from organoidrx.io import output_format, read_drug_targets, read_gmt, read_network, write_pairs
    from organoidrx.network import proximity
    from organoidrx.network._proximity import N_RANDOM

    N_RANDOM.validate(args.n_random)  # before the reading, not after it
    fmt = output_format(args.out, args.format)
    max_memory = None if args.memory is None else memory_budget(args.memory)
    options = _method_options(args, "measure", args.measure)
    tic = time.perf_counter()
    network = read_network(
        args.network, edge_columns=args.edge_columns, min_score=args.min_score, id_map=args.id_map
    )
    targets = read_drug_targets(args.targets)
    gene_sets = read_gmt(args.gene_sets)
    read_seconds = time.perf_counter() - tic
    drugs = None if args.drugs is None else [d.strip() for d in args.drugs.split(",") if d.strip()]
    if drugs == []:
        raise InputError(
            f"--drugs {args.drugs!r} names no drug; give comma-separated names, or leave it out for all."
        )
    with dask_backend(args.dask):
        table = proximity(
            network,
            targets,
            gene_sets,
            drugs=drugs,
            n_random=args.n_random,
            random_state=args.seed,
            min_score=None,
            min_bin_size=args.min_bin_size,
            measure=args.measure,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
            n_jobs=args.threads,
            progress=args.progress,
            max_memory=max_memory,
            **options,
        )
    write_pairs(table, args.out, rows="drug", columns="pathway", prefix="proximity", format=fmt)
    t = table.attrs["timings"]
    net = table.attrs["network"]
    cached = "read from cache" if table.attrs["distances_cached"] else "computed"
    print(
        f"Proximity of {table['pathway'].nunique()} gene sets to {table['drug'].nunique()} drugs on "
        f"{net['nodes']:,} nodes / {net['edges']:,} edges, {args.n_random} draws: "
        f"{int(table['proximal'].sum())} proximal pairs (z <= -1.2816), "
        f"{int((~table['computable']).sum())} rows not computable -> {args.out}"
    )
    print(
        f"Time: reading {read_seconds:.2f} s, network {t['network']:.2f} s, distances {t.get('distances', 0):.2f} s "
        f"({cached}), observed {t.get('observed', 0):.2f} s, null {t.get('null', 0):.2f} s"
    )
    return 0


# ------------------------------------------------------------------------------------------------ compare
def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="every scorer x network selection x model on the organoids, against random sets, q over all tests",
        description="Cross-validate every combination of pathway scorer, network measure (proximal pathways) and "
        "response model listed in [compare] of CONFIG.toml (default: every registered one) on the organoids, per "
        "drug; test each against random pathway sets of the same size; correct over every test "
        "(Benjamini-Hochberg). Writes leaderboard.tsv, combinations.tsv, heatmap.png, report.html, compare.json.",
    )
    p.add_argument("config", help="run configuration (TOML) with [network] edges")
    p.add_argument(
        "--out", required=True, help="output folder: new or empty, or replaced whole with --overwrite"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder whole")
    for kind, flag in (("scorer", "--scorers"), ("measure", "--measures"), ("model", "--models")):
        p.add_argument(
            flag,
            default=None,
            metavar="A,B",
            help=f"{kind}s to compare (default [compare] {flag[2:]}, else all)",
        )
    p.add_argument(
        "--n-random-sets", type=_integer(1), default=None, help="random sets per test (default [compare])"
    )
    p.add_argument(
        "--stop-after",
        type=_integer(0),
        default=None,
        help="stop a test's random sets once this many do at least as well, 0 never (default [compare])",
    )
    p.add_argument("--no-report", action="store_true", help="skip report.html and heatmap.png")
    p.add_argument(
        "--force",
        action="store_true",
        help="run work estimated to take longer than 12 hours (set [settings] force = true)",
    )
    _add_option(p, DASK, note=" (overrides [compute] dask)")
    p.set_defaults(handler=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from organoidrx.pipeline import compare_methods

    def names(text: str | None, kind: str) -> list[str] | None:
        if text is None:
            return None
        listed = [n.strip() for n in text.split(",") if n.strip()]
        if not listed:
            raise InputError(
                f"--{kind}s names no {kind}; give one or more of {', '.join(method_names(kind))}, or leave it "
                f"out to compare the config's [compare] {kind}s."
            )
        return listed

    result = compare_methods(
        args.config,
        args.out,
        scorers=names(args.scorers, "scorer"),
        measures=names(args.measures, "measure"),
        models=names(args.models, "model"),
        n_random_sets=args.n_random_sets,
        stop_after=args.stop_after,
        overwrite=args.overwrite,
        report=not args.no_report,
        progress=args.progress,
        dask=args.dask,
        force=args.force,
    )
    for line in result.summary():
        print(line)
    print(f"Results: {result.out_dir}")
    return 0


# --------------------------------------------------------------------------------------------------- cache
def _add_cache(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cache",
        help="list or clear the distance cache (one all-pairs matrix per network, least recently used evicted)",
        description="The distance cache holds one all-pairs shortest-path matrix per network (n_nodes**2 bytes, "
        "e.g. 132 MB for STRING > 700). When it grows past its cap ($ORGANOIDRX_CACHE_MAX_SIZE, default 4G) the "
        "least recently used matrices are removed.",
    )
    p.add_argument("action", choices=("list", "clear"), help="list the cached matrices, or remove them all")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="cache folder (default $ORGANOIDRX_CACHE_DIR or $XDG_CACHE_HOME/organoidrx)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="with list: read every matrix and check its SHA-256 and shape, as its next use would",
    )
    p.set_defaults(handler=_cmd_cache)


def _cmd_cache(args: argparse.Namespace) -> int:
    from organoidrx.network import cache_entries, clear_cache, default_cache_dir
    from organoidrx.network._cache import cache_max_bytes

    folder = args.cache_dir if args.cache_dir is not None else default_cache_dir()
    if args.action == "clear":
        entries, freed = clear_cache(folder)
        print(f"Removed {entries} cached distance matrices ({freed / 2**20:,.1f} MiB) from {folder}")
        return 0
    table = cache_entries(folder, verify=args.verify)
    cap = cache_max_bytes()
    total = int(table["bytes"].sum()) if len(table) else 0
    print(
        f"{folder}: {len(table)} cached distance matrices, {total / 2**20:,.1f} MiB of a "
        f"{cap / 2**30:g} GiB cap ($ORGANOIDRX_CACHE_MAX_SIZE); least recently used first"
        + ("; checksums verified" if args.verify else "; checksums not read (--verify reads them)")
    )
    for row in table.itertuples(index=False):
        status = "" if row.status == "ok" else f"  ({row.status}: recomputed on next use)"
        print(
            f"  {row.file}  {row.nodes:>7,} nodes  {row.bytes / 2**20:>9,.1f} MiB  last used {row.last_used}{status}"
        )
    return 0


# --------------------------------------------------------------------------------------------------- main
_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_demo,
    _add_methods,
    _add_score,
    _add_inspect,
    _add_proximity,
    _add_run,
    _add_train,
    _add_predict,
    _add_compare,
    _add_cache,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``organoidrx`` argument parser with every subcommand."""
    parser = _Parser(
        prog="organoidrx",
        description=(
            "Predict patient drug response from patient-derived organoids: network proximity of pathways to drug "
            "targets, ssGSEA pathway scores, models trained on organoids, survival evaluation in patients."
        ),
    )
    parser.add_argument("--version", action="version", version=f"organoidrx {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logging")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors; no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _REGISTRARS:
        register(sub)
    return parser


class _ProgressBars:
    """``progress(phase, done, total)`` drawn as one tqdm bar per phase on stderr, log lines printed above them."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._bars: dict[str, Any] = {}

    @classmethod
    @contextlib.contextmanager
    def on_terminal(cls, *, quiet: bool) -> Iterator[_ProgressBars | None]:
        """Bars when stderr is a terminal and not ``quiet``; ``None`` (nothing drawn) otherwise."""
        if quiet or not sys.stderr.isatty():
            yield None
            return
        from tqdm.contrib.logging import logging_redirect_tqdm

        bars = cls()
        try:
            with logging_redirect_tqdm(loggers=[logging.getLogger("organoidrx")]):
                yield bars
        finally:
            bars.close()

    def __call__(self, phase: str, done: int, total: int) -> None:
        bar = self._bars.get(phase)
        if bar is None:
            width = shutil.get_terminal_size((100, 24)).columns  # a terminal that reports 0 columns gets 100
            bar = self._tqdm(
                total=total,
                desc=phase,
                file=sys.stderr,
                ncols=min(width, 120),
                leave=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]",
            )
            self._bars[phase] = bar
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            del self._bars[phase]

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


class _EachWarningOnce(logging.Filter):
    """A warning repeated word for word (the same file read for several measures, scorers ...) is shown once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def _configure_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_EachWarningOnce())
    handler.setFormatter(
        logging.Formatter("organoidrx: %(levelname)s: %(message)s" if debug else "%(message)s")
    )
    root = logging.getLogger("organoidrx")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def cli_reference() -> str:
    """The command-line reference in Markdown: ``--help`` of the program and of every command, 100 columns wide.

    ``docs/make_references.py`` writes it to ``docs/cli.md``; a test checks the committed file.
    """
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, {"COLUMNS": "100"}):
        parser = build_parser()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parts = [
            "# Command-line reference",
            "",
            "<!-- generated by `python docs/make_references.py`; do not edit by hand -->",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
        ]
        for name, sub in commands.choices.items():
            parts += ["", f"## organoidrx {name}", "", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(parts) + "\n"


def _check_outputs(args: argparse.Namespace) -> None:
    """Each output file must be writable and must not be an input, a file of an input folder (a bundle's
    manifest), or another output of the same command (it would be replaced before or while the input is read)."""
    inputs = [
        (name, Path(os.path.realpath(getattr(args, name))))
        for name in getattr(args, "input_files", ())
        if getattr(args, name, None) is not None
    ]
    seen: dict[Path, str] = {}
    for name in getattr(args, "output_files", ()):
        if getattr(args, name, None) is None:
            continue
        path = check_output_file(getattr(args, name), flag=_flag(name))
        real = Path(os.path.realpath(path))
        for input_name, source in inputs:
            if real == source or (source in real.parents and real.exists()):
                where = "is" if real == source else "is a file inside"
                raise InputError(
                    f"{path} {where} the input {_flag(input_name)} {getattr(args, input_name)}; writing it would "
                    f"destroy that input: choose another {_flag(name)}."
                )
        if real in seen:
            raise InputError(
                f"{_flag(seen[real])} and {_flag(name)} are the same file {path}; give each its own."
            )
        seen[real] = name


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's kill, ``timeout``): unwound as an interrupt, so that staged outputs are removed."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``organoidrx`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _configure_logging(args.debug, args.quiet)
    handler: Handler = args.handler
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _check_outputs(args)  # refused before any work, not after it
        with _ProgressBars.on_terminal(quiet=args.quiet) as bars:
            args.progress = bars
            status = handler(args)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handling below, not at exit
        return status
    except _Terminated:
        print(
            "organoidrx: terminated; each output is complete or as it was before (never half-written)",
            file=sys.stderr,
        )
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("organoidrx: interrupted", file=sys.stderr)
        return 130
    except (
        BrokenPipeError
    ):  # the reader of stdout went away (``organoidrx methods | head``): nothing to report
        with contextlib.suppress(
            OSError, ValueError
        ):  # and nothing more to flush into the closed pipe at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except INPUT_ERRORS as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
            message = f"{exc.filename}: {message}"
        print(f"organoidrx: error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
            where = f" {exc.filename}" if exc.filename else ""
            print(
                f"organoidrx: error: could not write{where}: {exc.strerror or exc} (errno {exc.errno}); outputs "
                "are written whole or not at all, so the file being written was discarded; free disk space, raise "
                "the quota or file-size limit, or choose another --out, then rerun.",
                file=sys.stderr,
            )
            return 2
        print(
            f"organoidrx: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(rerun with --debug for the traceback and please report it)",
            file=sys.stderr,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
