"""Pathway scores of a cohort larger than memory: chunks of samples read, scored and written one at a time.

Two layers, so a parallel backend can reuse the first one:

* :func:`plan_scoring` restricts the gene sets to a file's genes once and returns a :class:`ScoringPlan`, whose
  :meth:`ScoringPlan.score_chunk` is a pure function of one chunk's values (any number of samples, in any
  order, on any worker) and gives, for each sample, the same bits as :func:`score` of the whole matrix.
* :func:`score_file` opens a file with :func:`organoidrx.io.open_expression`, sizes the chunks with
  :class:`MemoryModel` from a memory budget, and writes the scores as they come (TSV appended, Parquet one row
  group per chunk, h5ad at the end from the accumulated samples x sets matrix), atomically.

Only sample-independent scorers stream (ssGSEA with ``normalize`` other than ``"range"``, singscore). A
cohort-dependent scorer (GSVA, z-score, PLAGE, mean_z) compares each gene across the samples scored together, so
it needs the whole matrix: :func:`score_file` reads it whole when it fits the budget and refuses otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from organoidrx._compute import active_backend
from organoidrx._memory import format_bytes, memory_budget
from organoidrx._registry import Method, get_method
from organoidrx._utils import InputError, atomic_write, check_output_file, examples
from organoidrx._validation import as_gene_set_dict
from organoidrx.scoring._base import MAX_SIZE, MIN_SIZE, ScoringInput, kept_gene_sets, score, streams
from organoidrx.scoring._kernels import _CHUNK_CELLS, membership_matrix

logger = logging.getLogger(__name__)

__all__ = ["MemoryModel", "ScoringPlan", "StreamedScores", "plan_scoring", "score_file", "streams"]

#: bytes per sample of a chunk for the result row: the float64 scores, their frame and the written form
#: (Parquet column buffers; TSV text, about 20 characters a number) per set
_OUTPUT_BYTES_PER_SET = 48
#: bytes per sample and gene id held for the whole job (a Python str in an Index, with its pointer)
_ID_BYTES = 96
#: a cohort-dependent scorer on the whole matrix: the matrix read, its validated copy, and the scorer's arrays
_IN_MEMORY_COPIES = 4


def _why_not_streaming(scorer: Method, options: Mapping[str, Any]) -> str:
    coupled = {
        k: v for k, v in scorer.attrs.get("cohort_dependent_options", {}).items() if options.get(k) == v
    }
    if coupled:
        shown = ", ".join(f"{k}={v!r}" for k, v in coupled.items())
        return f"{scorer.name} with {shown} scales every score by the whole table"
    return f"{scorer.name} is cohort-dependent (each gene is compared across the samples scored together)"


@dataclass(frozen=True)
class ScoringPlan:
    """Gene sets restricted to a matrix's genes, ready to score any chunk of its samples.

    Attributes
    ----------
    method : str
    options : dict
        The scorer's resolved options.
    genes : Index of length n_genes
        The columns every chunk must have, in this order.
    pathways : Index of length n_sets
        The kept gene sets, in input order: the columns of every chunk's scores.
    sets : dict of str to ndarray of int
        Each kept set as column positions into ``genes``.
    membership : csr_array of shape (n_sets, n_genes)
    report : DataFrame
        One row per input set: ``pathway, n_genes, n_present, kept, reason``.
    where : str
        The matrix, for messages.
    """

    method: str
    options: dict[str, Any]
    genes: pd.Index
    pathways: pd.Index
    sets: dict[str, np.ndarray]
    membership: sp.csr_array
    report: pd.DataFrame
    where: str = "the expression matrix"
    _scorer: Method | None = field(default=None, repr=False, compare=False)

    def score_chunk(
        self, values: np.ndarray, samples: Any, *, n_jobs: int = 1, chunk_size: int | None = None
    ) -> pd.DataFrame:
        """Scores of one chunk of samples: a DataFrame of shape (n_chunk_samples, n_sets).

        Parameters
        ----------
        values : ndarray of shape (n_chunk_samples, n_genes)
            float64 expression, columns in the order of :attr:`genes`.
        samples : sequence of str
            The chunk's sample ids (the result's index, ``sample``).
        n_jobs : int, default 1
            Threads of the kernel.
        chunk_size : int, optional
            Samples the kernel works on at once (default: its own bounded default).

        Raises
        ------
        InputError
            On a missing (NaN) value, naming the sample and the gene, or a shape that does not match.
        """
        scorer = self._scorer or get_method("scorer", self.method)
        values = np.asarray(values, dtype=np.float64)
        index = pd.Index([str(s) for s in samples], dtype=object, name="sample")
        if values.ndim != 2 or values.shape != (len(index), len(self.genes)):
            raise InputError(
                f"a chunk of {self.where} has shape {values.shape}; expected ({len(index)}, {len(self.genes)}) "
                "(samples x the plan's genes)."
            )
        if np.isnan(values).any():
            row, col = np.argwhere(np.isnan(values))[0]
            raise InputError(
                f"{self.where} has {int(np.isnan(values).sum())} missing values in samples {index[0]!r} to "
                f"{index[-1]!r} (first at sample {index[row]!r}, gene {self.genes[col]!r}); impute or drop them "
                "before scoring (gseapy would silently use 0)."
            )
        data = ScoringInput(
            values=values,
            genes=self.genes,
            samples=index,
            sets=self.sets,
            membership=self.membership,
            chunk_size=chunk_size,
            n_jobs=n_jobs,
        )
        scores = np.asarray(scorer.func(data, **self.options), dtype=np.float64)
        if scores.shape != (len(index), len(self.pathways)):
            raise RuntimeError(
                f"scorer {self.method!r} returned shape {scores.shape}; expected {(len(index), len(self.pathways))}."
            )
        return pd.DataFrame(scores, index=index, columns=self.pathways)


def plan_scoring(
    genes: Any,
    gene_sets: Any,
    *,
    method: str = "ssgsea",
    min_size: int = MIN_SIZE.default,
    max_size: int | None = MAX_SIZE.default,
    where: str = "the expression matrix",
    **options: Any,
) -> ScoringPlan:
    """Restrict gene sets to a matrix's genes once, for scoring its samples chunk by chunk.

    Parameters
    ----------
    genes : sequence of str
        The matrix's gene ids (e.g. :attr:`organoidrx.io.ExpressionSource.genes`); unique.
    gene_sets : DataFrame with columns ``pathway, gene``, or dict of str to list of str
    method : str, default "ssgsea"
        A sample-independent registered scorer.
    min_size, max_size : int
        As in :func:`score`.
    where : str
        The matrix, for messages.
    **options
        The scorer's options.

    Returns
    -------
    ScoringPlan

    Raises
    ------
    InputError
        For a cohort-dependent scorer or option (its scores depend on which samples are scored together, so
        chunks would not agree with the whole), duplicated genes, or no gene set surviving.

    Examples
    --------
    >>> import numpy as np
    >>> plan = plan_scoring(["A", "B", "C", "D"], {"AC": ["A", "C"]}, min_size=1, weight=0.0)
    >>> scores = plan.score_chunk(np.array([[3.0, 1.0, 2.0, 0.5]]), ["s1"])
    >>> float(scores.loc["s1", "AC"])
    2.0
    """
    scorer = get_method("scorer", method)
    resolved = scorer.resolve(options)
    if not streams(method, resolved):
        raise InputError(
            f"{_why_not_streaming(scorer, resolved)}, so its scores cannot be computed chunk by chunk; score the "
            "whole matrix with organoidrx.scoring.score, or use a sample-independent scorer (ssgsea, singscore)."
        )
    MIN_SIZE.validate(min_size)
    if max_size is not None:
        MAX_SIZE.validate(max_size)
    index = pd.Index([str(g) for g in genes], dtype=object)
    duplicated = index[index.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"{where} has {len(duplicated)} duplicated gene ids (first: {examples(duplicated)}); aggregate them "
            "before scoring."
        )
    sets = as_gene_set_dict(gene_sets)
    gmt = getattr(gene_sets, "attrs", {}).get("source")
    positions, report = kept_gene_sets(
        sets,
        index,
        min_size=min_size,
        max_size=max_size,
        where=where,
        name=Path(gmt).name if gmt else "gene_sets",
        method=method,
    )
    return ScoringPlan(
        method=method,
        options=resolved,
        genes=index,
        pathways=pd.Index(list(positions), dtype=object, name="pathway"),
        sets=positions,
        membership=membership_matrix([list(p) for p in positions.values()], len(index)),
        report=report.reset_index(drop=True),
        where=where,
        _scorer=scorer,
    )


# ---------------------------------------------------------------------------------------------- memory model


@dataclass(frozen=True)
class MemoryModel:
    """Bytes a streamed scoring job holds: a fixed part, a part per sample of the current chunk, and the
    scorer's working arrays for the samples it works on at once.

    Attributes
    ----------
    budget : int
        Bytes allowed.
    n_samples : int
    fixed : dict of str to int
        What the job holds whatever the chunk size: the gene sets, the sample and gene ids, the reader's own
        state (a Parquet file's decoded footer), the score matrix when the output is h5ad (samples x sets x 8
        bytes: 11,000 x 3,000 is 264 MB), the whole matrix of a source that is read whole.
    per_sample : dict of str to int
        What one sample of a chunk costs: its values (genes x 8 bytes), the reader's buffers and its result row.
    working_per_sample : int
        The scorer's working arrays per sample it scores at once (per gene and per set, declared by the scorer).
    working_samples : int
        The most samples the scorer works on at once: threads x its block (about two million values each).

    Notes
    -----
    ``need(c) = sum(fixed) + c * sum(per_sample) + min(c, working_samples) * working_per_sample``; the chunk is
    the largest ``c <= n_samples`` with ``need(c) <= budget``. The interpreter and the imported libraries (about
    150-250 MB resident with numpy, pandas, pyarrow and anndata) are not part of the budget.
    """

    budget: int
    n_samples: int
    fixed: dict[str, int]
    per_sample: dict[str, int]
    working_per_sample: int = 0
    working_samples: int = 1
    scorer: str = ""

    @property
    def fixed_bytes(self) -> int:
        return sum(self.fixed.values())

    @property
    def per_sample_bytes(self) -> int:
        return sum(self.per_sample.values())

    def need(self, chunk_samples: int) -> int:
        """Bytes of a job scoring ``chunk_samples`` samples at a time."""
        working = min(chunk_samples, self.working_samples) * self.working_per_sample
        return self.fixed_bytes + chunk_samples * self.per_sample_bytes + working

    def chunk_samples(self) -> int:
        """The largest chunk that fits the budget (at most every sample); 0 when not even one sample fits."""
        room = self.budget - self.fixed_bytes
        per = max(self.per_sample_bytes, 1)
        wide = (room - self.working_samples * self.working_per_sample) // per
        if wide < self.working_samples:  # the scorer works on the whole chunk at once
            wide = room // (per + self.working_per_sample)
        return int(min(self.n_samples, max(0, wide)))

    def describe(self, chunk_samples: int | None = None) -> str:
        """The numbers, for messages and logs."""
        fixed = " + ".join(f"{format_bytes(v)} {k}" for k, v in self.fixed.items() if v)
        per = " + ".join(f"{format_bytes(v)} {k}" for k, v in self.per_sample.items() if v)
        per += f" + {format_bytes(self.working_per_sample)} for the {self.scorer} working arrays"
        head = (
            f"{format_bytes(self.need(chunk_samples))} for chunks of {chunk_samples} samples: "
            if chunk_samples
            else ""
        )
        return (
            f"{head}fixed: {fixed}; per sample of a chunk: {per} (working arrays for at most "
            f"{self.working_samples:,} samples at once)"
        )


def _memory_model(
    *,
    budget: int,
    n_samples: int,
    n_genes: int,
    plan: ScoringPlan,
    scorer: Method,
    read_bytes_per_sample: int,
    reader_fixed_bytes: int,
    whole_matrix_bytes: int,
    accumulate: bool,
    threads: int,
) -> MemoryModel:
    n_sets = len(plan.pathways)
    working = scorer.attrs.get("working_bytes", {"gene": 64, "set": 32})
    fixed = {
        "for the gene sets": int(plan.membership.nnz * 16 + 8 * (n_sets + 1) + 200 * n_sets),
        "for the sample and gene ids": _ID_BYTES * (n_samples + n_genes),
        "for the reader's index of the file": reader_fixed_bytes,
        f"for the {n_samples:,} x {n_sets:,} score matrix kept for the h5ad output": 8 * n_samples * n_sets
        if accumulate
        else 0,
        "for the matrix, read whole": whole_matrix_bytes,
    }
    per_sample = {
        f"for the values ({n_genes:,} genes x 8 bytes), twice (the next chunk is read while one is scored)": 16
        * n_genes,
        "for the reader's buffers": read_bytes_per_sample,
        f"for the result row ({n_sets:,} sets)": _OUTPUT_BYTES_PER_SET * n_sets,
    }
    return MemoryModel(
        budget=budget,
        n_samples=n_samples,
        fixed=fixed,
        per_sample=per_sample,
        working_per_sample=int(working["gene"] * n_genes + working["set"] * n_sets),
        working_samples=threads * _kernel_rows(n_genes),
        scorer=scorer.name,
    )


def _kernel_rows(n_genes: int) -> int:
    """Samples a kernel scores at once by default (:data:`organoidrx.scoring._kernels._CHUNK_CELLS` values)."""
    return max(1, _CHUNK_CELLS // max(n_genes, 1))


# ----------------------------------------------------------------------------------------------- writers


class _TsvWriter:
    """Appends each chunk to one open temporary file: the same bytes as the whole table written at once."""

    def __init__(self, handle: Any) -> None:
        self._handle, self._first = handle, True

    def write(self, frame: pd.DataFrame) -> None:
        frame.reset_index().to_csv(
            self._handle, sep="\t", index=False, header=self._first, lineterminator="\n", float_format=None
        )
        self._first = False


class _ParquetWriter:
    """One row group per chunk, into one open temporary file.

    The score columns are written without dictionary encoding (a dictionary of distinct doubles only costs time)
    and the schema carries the pandas metadata of ``frame.reset_index()``, as :func:`write_table` writes it.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._writer: Any = None
        self._schema: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self._schema = pa.Table.from_pandas(frame.iloc[:1].reset_index(), preserve_index=False).schema
            self._writer = pq.ParquetWriter(self._handle, self._schema, use_dictionary=[frame.index.name])
        values = np.asfortranarray(frame.to_numpy(dtype=np.float64))  # one contiguous column per set
        arrays = [pa.array(frame.index.to_numpy(dtype=object), type=pa.string())]
        arrays += [pa.array(values[:, j]) for j in range(values.shape[1])]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


@contextlib.contextmanager
def _table_writer(path: Path, fmt: str) -> Iterator[Any]:
    if fmt == "tsv":
        with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
            yield _TsvWriter(handle)
        return
    with atomic_write(path, "wb") as handle:
        writer = _ParquetWriter(handle)
        try:
            yield writer
        finally:  # before the temporary file closes (on failure it is then removed)
            writer.close()


# ------------------------------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class StreamedScores:
    """What :func:`score_file` did.

    Attributes
    ----------
    path : Path
        The file written.
    n_samples : int
    pathways : Index
        The kept gene sets (columns of the scores).
    report : DataFrame
        One row per input set: ``pathway, n_genes, n_present, kept, reason``.
    streamed : bool
        ``False`` when the matrix was read whole (a text matrix, a CSC h5ad, a cohort-dependent scorer).
    chunk_samples : int
        Samples read and scored at once.
    memory : MemoryModel or None
        The model the chunks were sized with (``None`` for a cohort-dependent scorer).
    """

    path: Path
    n_samples: int
    pathways: pd.Index
    report: pd.DataFrame
    streamed: bool
    chunk_samples: int
    memory: MemoryModel | None


def _refuse(model: MemoryModel, *, name: str, hint: str) -> InputError:
    return InputError(
        f"scoring {name} needs at least {format_bytes(model.need(1))} ({model.describe()}), but the memory "
        f"budget is {format_bytes(model.budget)}; raise --memory{hint}."
    )


def _chunk_task(task: tuple[pd.Index, np.ndarray], shared: tuple[Any, int]) -> pd.DataFrame:
    """Score one chunk of samples on a Dask worker."""
    samples, values = task
    plan, kernel_chunk = shared
    return plan.score_chunk(values, samples, n_jobs=1, chunk_size=kernel_chunk)


def score_file(
    expression: str | os.PathLike[str],
    gene_sets: Any,
    out: str | os.PathLike[str],
    *,
    method: str = "ssgsea",
    format: str | None = None,
    min_size: int = MIN_SIZE.default,
    max_size: int | None = MAX_SIZE.default,
    memory: str | int | None = None,
    chunk_samples: int | None = None,
    n_jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    gene_column: str | None = None,
    duplicates: str = "error",
    **options: Any,
) -> StreamedScores:
    """Score every sample of an expression file and write the scores, holding at most ``memory`` of data.

    Parameters
    ----------
    expression : path
        A genes x samples Parquet file, an AnnData ``.h5ad`` file or ``.zarr`` store (these stream), or a text
        matrix (read whole); see :func:`organoidrx.io.open_expression`.
    gene_sets : DataFrame with columns ``pathway, gene``, or dict of str to list of str
    out : path
        The scores: TSV or Parquet (column ``sample``, then one column per kept set), or h5ad (scores in
        ``.obsm["score_METHOD"]``; a copy of the input when it is h5ad).
    method : str, default "ssgsea"
    format : {"tsv", "parquet", "h5ad"}, optional
        Default from the extension of ``out`` (:func:`organoidrx.io.output_format`).
    min_size, max_size : int
    memory : str or int, optional
        Budget of the data held at once (``"1.5G"``, ``"800M"``, bytes); default half the available memory.
    chunk_samples : int, optional
        Samples per chunk (default: the largest that fits ``memory``); refused when it does not fit.
    n_jobs : int, optional
        Threads of the kernel.
    progress : callable, optional
        ``progress(done, total)`` after each chunk.
    gene_column, duplicates :
        As in :func:`organoidrx.io.read_expression`.
    **options
        The scorer's options.

    Returns
    -------
    StreamedScores

    Raises
    ------
    InputError
        Before any work, when the job cannot fit the budget (the message gives the memory model's numbers) or a
        cohort-dependent scorer's whole matrix does not fit; and for every input error of :func:`score`.

    Notes
    -----
    Memory model (:class:`MemoryModel`): a fixed part (gene sets, ids, the score matrix for h5ad output, a
    text matrix read whole) plus, per sample of a chunk, ``n_genes x (8 + reader + scorer)`` bytes and
    ``n_sets x 48`` bytes for its result. The scores of each sample are the same bits as :func:`score` of the
    whole matrix, whatever the chunk size; TSV output is the same bytes.
    """
    from organoidrx.io._outputs import output_format, write_obsm
    from organoidrx.io._streaming import open_expression, text_matrix_bytes

    scorer = get_method("scorer", method)
    resolved = scorer.resolve(options)
    budget = memory_budget(memory)
    if chunk_samples is not None and (isinstance(chunk_samples, bool) or int(chunk_samples) < 1):
        raise InputError(f"chunk_samples must be a positive integer; got {chunk_samples!r}.")
    out = check_output_file(out, flag="--out")
    fmt = output_format(out, format)
    expression = Path(expression)
    suffix = expression.suffix.lower()
    text_input = suffix not in (".parquet", ".pq", ".h5ad", ".zarr")
    if text_input and expression.is_file():
        estimate = text_matrix_bytes(expression)
        if estimate is not None and estimate > budget:
            raise InputError(
                f"{expression.name} is a text matrix, which is read whole (genes are rows, so a sample's values "
                f"span every line): about {format_bytes(estimate)} to parse it, but the memory budget is "
                f"{format_bytes(budget)}; raise --memory or convert it to a genes x samples Parquet file or an "
                "h5ad file, which are read in chunks of samples."
            )
    threads = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs or 1)
    with open_expression(expression, gene_column=gene_column, duplicates=duplicates) as source:  # type: ignore[arg-type]
        n_samples, n_genes = source.shape
        where = f"the expression matrix {source.name}"
        if not streams(method, resolved):
            need = _IN_MEMORY_COPIES * 8 * n_samples * n_genes
            if need > budget:
                raise InputError(
                    f"{_why_not_streaming(scorer, resolved)}, so it scores the whole matrix at once: "
                    f"{n_samples:,} samples x {n_genes:,} genes need about {format_bytes(need)} "
                    f"({_IN_MEMORY_COPIES} copies x 8 bytes x samples x genes), but the memory budget is "
                    f"{format_bytes(budget)}; raise --memory or use a sample-independent scorer (ssgsea, "
                    "singscore), which streams."
                )
            frame = source.read_frame()
            scores, report = score(
                frame,
                gene_sets,
                method=method,
                min_size=min_size,
                max_size=max_size,
                n_jobs=n_jobs,
                return_report=True,
                progress=progress,
                **resolved,
            )
            del frame
            _write_whole(
                scores, out, fmt, method=method, source=expression if source.format == "h5ad" else None
            )
            return StreamedScores(out, n_samples, scores.columns, report, False, n_samples, None)

        plan = plan_scoring(
            source.genes,
            gene_sets,
            method=method,
            min_size=min_size,
            max_size=max_size,
            where=where,
            **resolved,
        )
        # a source read whole keeps the dense matrix (a text matrix: already read, its parse checked above; a CSC
        # matrix: read as sparse arrays, then made dense)
        whole = (
            0 if source.streams else (1 if source.format in ("text", "gct") else 2) * 8 * n_samples * n_genes
        )
        model = _memory_model(
            budget=budget,
            n_samples=n_samples,
            n_genes=n_genes,
            plan=plan,
            scorer=scorer,
            read_bytes_per_sample=source.read_bytes_per_sample,
            reader_fixed_bytes=source.read_fixed_bytes,
            whole_matrix_bytes=whole,
            accumulate=fmt == "h5ad",
            threads=threads,
        )
        fits = model.chunk_samples()
        if fits < 1:
            hint = (
                f", or write Parquet or TSV (--format), which streams the scores instead of holding the "
                f"{format_bytes(8 * n_samples * len(plan.pathways))} score matrix"
                if fmt == "h5ad"
                else ""
            )
            raise _refuse(model, name=source.name, hint=hint)
        chunk = fits if chunk_samples is None else int(chunk_samples)
        chunk = min(chunk, max(n_samples, 1))
        if chunk > fits:
            raise InputError(
                f"chunks of {chunk} samples need {format_bytes(model.need(chunk))} ({model.describe()}), "
                f"but the memory budget is {format_bytes(model.budget)}; use at most {fits} samples per chunk "
                "or raise --memory."
            )
        backend = active_backend()
        window = 2 * max(backend.n_workers, 1) if backend is not None else 1
        if (
            backend is not None
        ):  # the chunks away on the cluster and those waiting to be written share the budget
            chunk = max(1, min(chunk, fits // (2 * window + 1)))
        kernel_chunk = min(_kernel_rows(n_genes), max(1, math.ceil(chunk / threads)))
        logger.info("%s: scoring in chunks of %d samples, %s", source.name, chunk, model.describe(chunk))
        flat = 0
        done = 0
        accumulated = np.empty((n_samples, len(plan.pathways))) if fmt == "h5ad" else None
        if progress is not None:
            progress(0, n_samples)

        def read() -> Iterator[tuple[pd.Index, np.ndarray]]:
            nonlocal flat
            for samples, values in _read_ahead(source, chunk):
                if n_genes > 1:
                    flat += int((np.ptp(values, axis=1) == 0).sum())
                yield samples, values
                del values  # freed before the next chunk's read starts: two chunks at most, as planned

        def parts() -> Iterator[pd.DataFrame]:
            if backend is None:
                for samples, values in read():
                    part = plan.score_chunk(values, samples, n_jobs=threads, chunk_size=kernel_chunk)
                    del values
                    yield part
                return
            # on a Dask cluster: at most `window` chunks away at once, written back in sample order
            waiting: dict[int, pd.DataFrame] = {}
            following = 0
            shared = (plan, kernel_chunk)
            for i, part in backend.imap(
                _chunk_task, read(), shared=shared, scatter_tasks=True, window=window
            ):
                waiting[i] = part
                while following in waiting:
                    yield waiting.pop(following)
                    following += 1

        def scored() -> Iterator[pd.DataFrame]:
            nonlocal done
            for part in parts():
                yield part
                done += len(part)
                if progress is not None:
                    progress(done, n_samples)

        if accumulated is None:
            with _table_writer(out, fmt) as writer:
                for part in scored():
                    writer.write(part)
        else:
            for part in scored():
                accumulated[done : done + len(part)] = part.to_numpy()
            result = pd.DataFrame(
                accumulated, index=pd.Index(source.samples, name="sample"), columns=plan.pathways, copy=False
            )
            write_obsm(
                {f"score_{method}": result}, out, source=expression if source.format == "h5ad" else None
            )
        if flat:
            logger.warning(
                "%d of %d samples have the same value for every gene; no gene stands out in "
                "them (a rank-based score reflects only the order of tied genes): check the expression file",
                flat,
                n_samples,
            )
        return StreamedScores(out, n_samples, plan.pathways, plan.report, source.streams, chunk, model)


def _read_ahead(source: Any, chunk: int) -> Iterator[tuple[pd.Index, np.ndarray]]:
    """``source.chunks(chunk)``, with the next chunk read in a background thread while the caller scores one.

    Reading (Parquet decoding, HDF5 and Zarr reads) and scoring (sorting, the sparse product) release the GIL, so
    the file is read while the cores sort. At most two chunks are held: the one scored and the one being read.
    """
    n = len(source.samples)
    starts = list(range(0, n, chunk))
    if len(starts) <= 1:
        yield from source.chunks(chunk)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(source.read, 0, min(chunk, n))
        for i, start in enumerate(starts):
            values = future.result()
            if i + 1 < len(starts):
                future = pool.submit(source.read, starts[i + 1], min(starts[i + 1] + chunk, n))
            yield source.samples[start : start + chunk], values
            del values


def _write_whole(scores: pd.DataFrame, out: Path, fmt: str, *, method: str, source: Path | None) -> None:
    from organoidrx.io._outputs import write_obsm, write_table

    if fmt == "h5ad":
        write_obsm({f"score_{method}": scores}, out, source=source)
    else:
        write_table(scores.reset_index(), out, format=fmt, float_format=None)  # type: ignore[arg-type]
