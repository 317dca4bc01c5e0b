"""Where the heavy loops run: in this process (the default) or on a Dask cluster.

The loops that dominate the cost are split into tasks whose random streams are fixed before any task runs
(counter-based draws of the proximity null, ``numpy.random.SeedSequence.spawn`` per permutation), and the results
are combined in task order. A task's output therefore does not depend on where or when it ran, and a run on a cluster of any size gives
the same bytes as the single-process run.

:func:`dask_backend` opens a ``dask.distributed`` client for the duration of a ``with`` block; the library's
proximity null, permutation nulls and sample-independent pathway scoring send their tasks to it while it is active
(:func:`active_backend`). Dask is imported only here, and only when a backend is opened, so the core install does
not need it (``pip install "organoidrx[dask]"``).

Specifications
--------------
``local:N``
    Start a ``LocalCluster`` of N worker processes (one thread each) on this machine, closed at the end.
``tcp://HOST:PORT`` (or ``tls://``, ``ucx://``)
    Connect to a running scheduler (``dask scheduler``, workers started with ``dask worker ADDRESS``); the
    workers must be able to import the same organoidrx.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from organoidrx._registry import Option
from organoidrx._utils import InputError

__all__ = ["DASK", "DaskBackend", "DaskSpec", "active_backend", "dask_backend", "parse_dask_spec"]

logger = logging.getLogger(__name__)

_ACTIVE: ContextVar[DaskBackend | None] = ContextVar("organoidrx_dask_backend", default=None)
#: a scheduler's address: HOST:PORT after tcp://, tls:// or ucx:// (IPv6 in brackets), anything after inproc://
_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx)://(?:\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):\d{1,5}|inproc://\S+)$")
_LOCAL = re.compile(r"^local:(\d+)$")
_EXTRA = 'pip install "organoidrx[dask]"'
#: Times a task that raised is resubmitted (a lost worker is handled by the scheduler's own retry budget).
_RETRIES = 2


#: The one definition of the ``--dask`` flag and the config's ``[compute] dask`` key.
DASK = Option(
    "dask",
    None,
    str,
    "run the heavy loops on a Dask cluster: local:N (N worker processes here) or a scheduler address "
    "tcp://HOST:PORT; results are identical to a run without it",
    nullable=True,
)


@dataclass(frozen=True)
class DaskSpec:
    """A parsed ``--dask`` value: ``n_workers`` for ``local:N``, else the scheduler ``address``."""

    text: str
    n_workers: int | None = None
    address: str | None = None


def parse_dask_spec(text: str, *, where: str = "--dask") -> DaskSpec:
    """Parse ``local:N`` or a scheduler address such as ``tcp://127.0.0.1:8786``.

    Raises
    ------
    InputError
        On anything else, naming the accepted forms.
    """
    value = str(text).strip()
    local = _LOCAL.match(value)
    if local:
        n = int(local.group(1))
        if not 1 <= n <= 1024:
            raise InputError(f"{where} {value!r}: local:N needs 1 <= N <= 1024 worker processes.")
        return DaskSpec(text=value, n_workers=n)
    if _ADDRESS.match(value):
        return DaskSpec(text=value, address=value)
    raise InputError(
        f"{where} {value!r} is not a Dask cluster: use local:N (N worker processes on this machine) or the "
        "address of a running scheduler, e.g. tcp://127.0.0.1:8786."
    )


def dask_setup(worker: Any) -> None:
    """Run by each worker of a local cluster as it starts (its ``preload``): Ctrl-C is left to this process.

    A terminal's Ctrl-C reaches every process of the foreground group; a worker that took it would die mid-task
    and print its traceback. The client process unwinds instead, and its :meth:`DaskBackend.close` stops them.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Records(logging.Handler):
    """Keeps the organoidrx log records a task emits on its worker, to replay them where the run was started."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.thread = threading.get_ident()  # a worker with several threads runs several tasks at once

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        record.msg, record.args = record.getMessage(), None  # formatted here: arguments need not pickle
        record.exc_info = record.exc_text = None
        self.records.append(record)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Version and SHA-256 of every file of the installed organoidrx package (its modules and data tables).

    Workers of a cluster must run the same code as the process that sends them tasks, or their results differ
    silently; a worker whose fingerprint differs refuses the task.
    """
    import organoidrx

    root = Path(organoidrx.__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.glob("data/*")]):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return f"{organoidrx.__version__}+{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class _Refused:
    """An input error a task met on its worker, returned (not raised) so that Dask neither logs it as a failed
    computation nor retries a deterministic refusal; :meth:`DaskBackend.imap` raises it where the run started."""

    message: str


def _call(
    fn: Callable[..., Any], task: Any, shared: Any, fingerprint: str | None = None
) -> tuple[Any, list[logging.LogRecord]]:
    if fingerprint is not None and code_fingerprint() != fingerprint:
        import socket

        raise InputError(
            f"a Dask worker on {socket.gethostname()} runs organoidrx {code_fingerprint()}, not {fingerprint} "
            "like the run; install the same organoidrx on every worker and restart them."
        )
    package = logging.getLogger("organoidrx")
    handler, level = _Records(), package.level
    package.addHandler(handler)
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    try:
        return fn(task, shared), handler.records
    except InputError as exc:
        return _Refused(str(exc)), handler.records
    finally:
        package.removeHandler(handler)
        package.setLevel(level)


def _replay(records: list[logging.LogRecord]) -> None:
    for record in records:
        logger_ = logging.getLogger(record.name)
        if logger_.isEnabledFor(record.levelno):
            logger_.handle(record)


class DaskBackend:
    """An open ``dask.distributed`` client; use through :func:`dask_backend`.

    Parameters
    ----------
    spec : DaskSpec
        The cluster to start or join.
    """

    def __init__(self, spec: DaskSpec) -> None:
        self.spec = spec
        self.client: Any = None
        self._cluster: Any = None

    def open(self) -> DaskBackend:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError(
                f"--dask {self.spec.text} needs dask.distributed, which is not installed; install it with {_EXTRA}."
            ) from None
        quiet = logging.getLogger("distributed")
        if not logging.getLogger("organoidrx").isEnabledFor(logging.DEBUG):
            quiet.setLevel(
                logging.WARNING
            )  # a local cluster's scheduler logs every client and worker at INFO
        if self.spec.n_workers is not None:
            import dask

            # dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which fixes glibc's mmap threshold: the
            # kernels' arrays of 0.1-32 MB are then mapped and faulted in anew at every draw (3x slower here)
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                self._cluster = LocalCluster(
                    n_workers=self.spec.n_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # no dashboard, and its HTTP endpoint on a free port: two clusters on one machine never collide
                    scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                    silence_logs=logging.ERROR,
                    preload=[__name__],  # dask_setup: the workers leave Ctrl-C to this process
                )
            self.client = Client(self._cluster)
        else:
            try:
                self.client = _connect(self.spec, Client)
            except InputError:
                raise
            # a refused or silent port is an OSError; something else answering there can fail in other ways
            except (OSError, ValueError, TypeError, MemoryError) as exc:
                raise InputError(
                    f"--dask {self.spec.text}: no Dask scheduler answers there ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:200]}); start one with `dask scheduler` and workers with "
                    "`dask worker ADDRESS`, or use local:N."
                ) from None
            try:
                self.client.wait_for_workers(1, timeout="10s")
            except (TimeoutError, OSError):
                self.close()
                raise InputError(
                    f"--dask {self.spec.text}: the scheduler there has no workers (none joined within 10 s); "
                    f"start some with `dask worker {self.spec.address}`, or use local:N."
                ) from None
            other = {w: f for w, f in self.client.run(code_fingerprint).items() if f != code_fingerprint()}
            if other:
                worker, found = next(iter(other.items()))
                self.close()
                raise InputError(
                    f"--dask {self.spec.text}: {len(other)} worker(s) run another organoidrx (e.g. {worker}: "
                    f"{found}, here {code_fingerprint()}); install the same organoidrx on every worker and restart "
                    "them."
                )
        return self

    def close(self, *, abort: bool = False) -> None:
        """Close the client and any local cluster; ``abort`` (an interrupted run) first stops local workers at once.

        A local worker finishes its running task before a graceful close, and the scheduler in this process then
        reports to the closed client at CRITICAL: an interrupted run kills its own workers and closes silently.
        """
        quiet = logging.getLogger("distributed")
        level = quiet.level
        if abort and self._cluster is not None:
            quiet.setLevel(logging.CRITICAL + 1)
            for nanny in list(self._cluster.workers.values()):
                pid = getattr(nanny, "pid", None)  # its worker process now, None once it has exited
                if pid:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
        try:
            if self.client is not None:
                self.client.close()
            if self._cluster is not None:
                self._cluster.close()
        finally:
            quiet.setLevel(level)
            self.client = self._cluster = None

    @property
    def n_workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def imap(
        self,
        fn: Callable[[Any, Any], Any],
        tasks: Iterable[Any],
        *,
        shared: Any = None,
        scatter_tasks: bool = False,
        window: int | None = None,
    ) -> Iterator[tuple[int, Any]]:
        """Run ``fn(task, shared)`` for every task on the cluster; yield ``(index, result)`` as tasks finish.

        ``shared`` is sent to the workers once (scattered to every worker) and given to every task. ``fn`` must
        be a module-level function (pickled by reference). With ``scatter_tasks`` the tasks (e.g. blocks of a
        matrix) are sent to the workers as data, not inside the task graph. With ``window``, ``tasks`` is read
        lazily and at most ``window`` tasks are on the cluster at once (a stream of blocks held in bounded memory).

        What a task logs on its worker (organoidrx's records from INFO up) is logged here, in task order, so a
        warning reaches the run's report as it would without Dask. A task that raises is retried by Dask; a
        worker lost mid-run is replaced and its tasks rerun. Data that lived only on a lost worker (a scattered
        block) is sent again from here and its task resubmitted. Either way the result is the same, because a
        task's random stream is fixed in the task itself.
        """
        from distributed import as_completed

        client = self.client
        source = iter(tasks)
        limit = window if window is not None else float("inf")
        handle = client.scatter([shared], broadcast=True, hash=False)[0] if shared is not None else None
        inflight: dict[int, Any] = {}  # index -> task, kept until its result arrives (to send it again)
        owner: dict[str, int] = {}
        live: dict[int, list[Any]] = {}  # index -> futures to release (its task's data and its result)
        tries: dict[int, int] = {}
        records: dict[int, list[logging.LogRecord]] = {}
        pending = as_completed()
        submitted = replayed = 0
        exhausted = False

        def submit(i: int) -> None:
            nonlocal handle
            if handle is not None and handle.status != "finished":  # every copy was lost
                handle = client.scatter([shared], broadcast=True, hash=False)[0]
            data = client.scatter([inflight[i]], hash=False)[0] if scatter_tasks else inflight[i]
            future = client.submit(
                _call, fn, data, shared=handle, fingerprint=code_fingerprint(), pure=False, retries=_RETRIES
            )
            owner[future.key] = i
            live.setdefault(i, []).extend([data, future] if scatter_tasks else [future])
            pending.add(future)

        def fill() -> None:
            nonlocal submitted, exhausted
            while not exhausted and len(inflight) < limit:
                try:
                    inflight[submitted] = next(source)
                except StopIteration:
                    exhausted = True
                    return
                tries[submitted] = 0
                submit(submitted)
                submitted += 1

        try:
            fill()
            for future in pending:
                i = owner.pop(future.key)
                if future.status == "cancelled" or (
                    future.status == "error" and type(future.exception()).__name__ == "FutureCancelledError"
                ):
                    if tries[i] >= _RETRIES:
                        future.result()  # raises: lost more often than we retry
                    tries[i] += 1
                    logger.info("task %d lost its input with a worker; sending it again", i)
                    submit(i)
                    continue
                try:
                    result, records[i] = future.result()
                except Exception as exc:
                    if type(exc).__name__ != "KilledWorker":
                        raise
                    raise InputError(
                        f"every Dask worker that ran task {i} of this run died ({' '.join(str(exc).split()[:12])}"
                        " ...); a worker running out of memory is the usual cause: give the workers more memory"
                        " (dask worker --memory-limit), fewer threads each, or run without --dask."
                    ) from None
                if isinstance(result, _Refused):
                    raise InputError(result.message)
                for held in live.pop(i):
                    held.release()
                del inflight[i], tries[i]
                fill()
                while replayed in records:  # in task order, as one process logs
                    _replay(records.pop(replayed))
                    replayed += 1
                yield i, result
        finally:
            for futures in live.values():
                for held in futures:
                    held.release()
            if handle is not None:
                handle.release()

    def map(self, fn: Callable[[Any, Any], Any], tasks: Sequence[Any], *, shared: Any = None) -> list[Any]:
        """:meth:`imap` collected in task order."""
        out: list[Any] = [None] * len(tasks)
        for i, result in self.imap(fn, tasks, shared=shared):
            out[i] = result
        return out


def active_backend() -> DaskBackend | None:
    """The backend of the innermost :func:`dask_backend` block, or None (run in this process)."""
    return _ACTIVE.get()


#: seconds a scheduler address has to complete Dask's handshake
_CONNECT_SECONDS = 10


def _connect(spec: DaskSpec, client_class: Any) -> Any:
    """``Client(address)``, bounded in time: distributed's own timeout covers the TCP connection but not its
    handshake, which waits forever on a server that accepts and never answers in Dask's protocol (a web server,
    the dashboard's port). The attempt runs in a daemon thread; one that is still waiting is left behind."""
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["client"] = client_class(spec.address, timeout=f"{_CONNECT_SECONDS}s")
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=attempt, name="organoidrx-dask-connect", daemon=True)
    thread.start()
    thread.join(2 * _CONNECT_SECONDS)
    if thread.is_alive():
        raise InputError(
            f"--dask {spec.text}: something accepts connections there but did not answer as a Dask scheduler "
            f"within {2 * _CONNECT_SECONDS} s (a web server, or the dashboard's port rather than the scheduler's, "
            "usually 8786?); give the address `dask scheduler` prints, or use local:N."
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["client"]


@contextlib.contextmanager
def dask_backend(spec: str | DaskSpec | None) -> Iterator[DaskBackend | None]:
    """Send the library's heavy loops to a Dask cluster inside the ``with`` block (``None``: this process).

    With ``"local:N"`` in a script, put the block under ``if __name__ == "__main__":``: the N worker processes
    start by importing the script, and would otherwise run it again.

    Examples
    --------
    >>> with dask_backend(None) as backend:
    ...     backend is None
    True
    """
    if spec is None or spec == "":
        yield None
        return
    parsed = spec if isinstance(spec, DaskSpec) else parse_dask_spec(spec)
    backend = DaskBackend(parsed).open()
    token = _ACTIVE.set(backend)
    completed = False
    try:
        yield backend
        completed = True
    finally:
        _ACTIVE.reset(token)
        backend.close(abort=not completed)
