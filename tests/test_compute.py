"""The Dask backend: a real cluster gives the bytes of the single-process run, survives a lost worker, and stays an
optional extra."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx._compute import _ACTIVE, DaskSpec, active_backend, dask_backend, parse_dask_spec
from organoidrx._utils import InputError
from organoidrx.cli import main
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.network import proximity
from organoidrx.pipeline import read_config, run_pipeline
from organoidrx.scoring import score

pytest.importorskip(
    "distributed", reason="the Dask backend needs the dask extra: pip install 'organoidrx[dask]'"
)


def test_specs_parse_and_bad_ones_say_the_accepted_forms():
    assert parse_dask_spec("local:2") == DaskSpec("local:2", n_workers=2)
    assert parse_dask_spec(" tcp://10.0.0.1:8786 ") == DaskSpec(
        "tcp://10.0.0.1:8786", address="tcp://10.0.0.1:8786"
    )
    for bad in ("local", "local:0", "local:x", "8786", "http://host:1", "", "tcp://127.0.0.1", "tcp://h:1/x"):
        with pytest.raises(InputError, match=r"local:N .*tcp://127.0.0.1:8786|1 <= N"):
            parse_dask_spec(bad)
    with dask_backend(None) as backend:
        assert backend is None and active_backend() is None


def test_config_and_cli_refuse_a_bad_spec_before_any_work(tmp_path, capsys):
    paths = make_synthetic_cohort(n_genes=300, n_pathways=20, n_organoids=10, random_state=1).write(tmp_path)
    config = Path(paths["config"])
    config.write_text(config.read_text() + '\n[compute]\ndask = "cluster:4"\n')
    with pytest.raises(InputError, match=r"\[compute\] dask = 'cluster:4' is not a Dask cluster"):
        read_config(config)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--dask", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert "not a Dask cluster" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def cohort():
    return make_synthetic_cohort(
        n_genes=500, n_pathways=40, n_organoids=16, drugs=("A", "B", "C"), random_state=5
    )


@contextlib.contextmanager
def _backend(backend):
    """Make ``backend`` (None: this process) the active one, whatever the module's cluster fixture set."""
    token = _ACTIVE.set(backend)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


@pytest.fixture(scope="module")
def cluster():
    with dask_backend("local:2") as backend:
        yield backend


def _spin(seconds: float) -> float:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return seconds


def test_ctrl_c_is_left_to_this_process_and_an_interrupted_block_stops_its_workers():
    """A terminal's Ctrl-C reaches the workers too: they ignore it (no worker tracebacks); this process unwinds,
    and leaving the block by an exception kills its local workers instead of waiting for their running tasks."""
    with pytest.raises(KeyboardInterrupt), dask_backend("local:1") as backend:
        assert set(backend.client.run(lambda: int(signal.getsignal(signal.SIGINT))).values()) == {
            int(signal.SIG_IGN)
        }
        (pid,) = backend.client.run(os.getpid).values()
        running = backend.client.submit(_spin, 300.0)
        while running.status == "pending" and not any(backend.client.processing().values()):
            time.sleep(0.05)
        started = time.monotonic()
        raise KeyboardInterrupt
    assert time.monotonic() - started < 60  # a graceful close would wait for the 300-s task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # this process still takes Ctrl-C


@pytest.mark.slow
def test_score_and_proximity_on_two_worker_processes_are_byte_identical(cohort, cluster):
    # the fixture's backend is active inside its module: run the single-process reference with it switched off
    with _backend(None):
        alone = score(cohort.patient_expression, cohort.gene_sets, chunk_size=37)
        prox_alone = proximity(
            cohort.network, cohort.targets, cohort.gene_sets, n_random=300, use_cache=False
        )
    assert cluster.n_workers == 2
    with dask_backend(None):  # an inner "no cluster" keeps the outer one
        assert active_backend() is cluster
    with _backend(cluster):
        done = []
        spread = score(
            cohort.patient_expression, cohort.gene_sets, chunk_size=37, progress=lambda d, t: done.append(d)
        )
        prox_spread = proximity(
            cohort.network, cohort.targets, cohort.gene_sets, n_random=300, use_cache=False
        )
    assert spread.to_csv() == alone.to_csv()
    assert np.array_equal(spread.to_numpy(), alone.to_numpy())
    assert done[-1] == len(alone) and len(done) > 2  # progress per task
    # an option that makes a scorer cohort-dependent (the whole table's range) is never split into blocks
    with _backend(None):
        ranged = score(cohort.patient_expression, cohort.gene_sets, chunk_size=37, normalize="range")
        ranged_progress = score(
            cohort.patient_expression, cohort.gene_sets, chunk_size=37, normalize="range", progress=print
        )
    with _backend(cluster):
        ranged_spread = score(cohort.patient_expression, cohort.gene_sets, chunk_size=37, normalize="range")
    assert ranged_progress.to_csv() == ranged.to_csv() == ranged_spread.to_csv()
    assert prox_spread.to_csv(sep="\t") == prox_alone.to_csv(sep="\t")


def _proximity_table(cohort, measure: str) -> str:
    """The proximity table of the cohort with 50 draws (a small DIAMOnD module), as TSV text."""
    options = {"n_added": 5} if measure == "diamond" else {}
    return proximity(
        cohort.network,
        cohort.targets,
        cohort.gene_sets,
        n_random=50,
        use_cache=False,
        measure=measure,
        **options,
    ).to_csv(sep="\t")


@pytest.mark.slow
@pytest.mark.parametrize("measure", ["closest", "shortest", "separation", "rwr", "diamond"])
def test_every_measure_split_by_drug_columns_gives_the_single_process_table(cohort, cluster, measure):
    from organoidrx.network._proximity import _drug_chunks

    # 50 draws are 2 blocks: with 2 workers the 3 drugs are split into 3 column chunks, 6 tasks
    assert len(_drug_chunks(3, 2, 2)) == 3

    with _backend(None):
        alone = _proximity_table(cohort, measure)
    with _backend(cluster):
        assert _proximity_table(cohort, measure) == alone


@pytest.mark.slow
def test_run_on_a_local_cluster_writes_the_single_process_files(cohort, tmp_path):
    config = cohort.write(tmp_path / "cohort")["config"]
    settings = {"n_permutations": 30, "n_random": 100, "n_random_sets": 20}
    run_pipeline(config, tmp_path / "alone", **settings)
    run_pipeline(config, tmp_path / "spread", dask="local:2", **settings)
    names = sorted(p.name for p in (tmp_path / "alone").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "spread").iterdir())
    for name in names:
        if name != "run.json":
            assert (tmp_path / "alone" / name).read_bytes() == (tmp_path / "spread" / name).read_bytes(), name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.mark.slow
def test_proximity_cli_on_a_scheduler_and_two_workers_started_by_hand(cohort, tmp_path, monkeypatch, capsys):
    files = cohort.write(tmp_path / "cohort")
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "ORGANOIDRX_CACHE_DIR": str(tmp_path / "cache")}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    workers = [
        subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], **quiet)
        for _ in range(2)
    ]
    try:
        _wait_for_workers(address, 2)
        args = ["proximity", "--network", str(files["network"]), "--targets", str(files["targets"])]
        args += ["--gene-sets", str(files["gene_sets"]), "--n-random", "200", "--no-cache"]
        assert main([*args, "--out", str(tmp_path / "alone.tsv")]) == 0
        assert main([*args, "--dask", address, "--out", str(tmp_path / "spread.tsv")]) == 0
        # workers running other code than the run's: refused, not mixed into the results
        import organoidrx
        from organoidrx import _compute

        _compute.code_fingerprint.cache_clear()
        monkeypatch.setattr(organoidrx, "__version__", "9.9.9")
        capsys.readouterr()
        assert main([*args, "--dask", address, "--out", str(tmp_path / "other.tsv")]) == 2
        err = capsys.readouterr().err
        assert "2 worker(s) run another organoidrx" in err and "here 9.9.9+" in err, err
        assert not (tmp_path / "other.tsv").exists()
        _compute.code_fingerprint.cache_clear()
    finally:
        for process in [*workers, scheduler]:
            process.terminate()
        for process in [*workers, scheduler]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    assert (tmp_path / "alone.tsv").read_bytes() == (tmp_path / "spread.tsv").read_bytes()


def test_a_scheduler_without_workers_is_one_clear_error():
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        address = empty.scheduler_address
        with pytest.raises(InputError, match=r"the scheduler there has no workers .*`dask worker "):
            with dask_backend(address):
                pass


def test_an_address_with_no_scheduler_is_one_clear_line(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    files = make_synthetic_cohort(n_genes=300, n_pathways=20, n_organoids=10, random_state=1).write(tmp_path)
    args = ["proximity", "--network", str(files["network"]), "--targets", str(files["targets"])]
    args += ["--gene-sets", str(files["gene_sets"]), "--dask", address, "--out", str(tmp_path / "p.tsv")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "no Dask scheduler answers there" in err and "dask scheduler" in err
    assert not (tmp_path / "p.tsv").exists()


@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_the_output_complete_and_identical(cohort):
    def run(progress=None):
        return proximity(
            cohort.network,
            cohort.targets,
            cohort.gene_sets,
            n_random=2000,
            use_cache=False,
            progress=progress,
        )

    alone = run()
    killed: list[int] = []
    with dask_backend("local:2") as backend:
        assert backend is not None
        pids = backend.client.run(os.getpid)

        def kill_once(phase: str, done: int, total: int) -> None:
            if phase == "null" and done > 0 and not killed:
                pid = next(iter(pids.values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        started = time.perf_counter()
        spread = run(kill_once)
        assert time.perf_counter() - started < 300
    assert killed
    assert spread.to_csv(sep="\t") == alone.to_csv(sep="\t")


def test_the_core_and_the_demo_do_not_import_dask(tmp_path):
    code = (
        "import sys\n"
        "from organoidrx.cli import main\n"
        f"assert main(['--quiet', 'demo', '--out', {str(tmp_path / 'demo')!r}]) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "ORGANOIDRX_CACHE_DIR": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_results_do_not_depend_on_the_task_split(cohort):
    """The permutation tasks hold fixed seeds: a different task size gives the same null."""
    from organoidrx.evaluation import _permutation, permutation_test

    response = pd.Series(np.arange(12.0), index=[f"s{i}" for i in range(12)], name="A")

    def statistic(r):
        values = r.iloc[:, -1] if isinstance(r, pd.DataFrame) else r
        return float(np.dot(values.to_numpy(), np.arange(len(values))))

    first = permutation_test(statistic, response, n_permutations=50, random_state=3)
    old = _permutation._TASK
    try:
        _permutation._TASK = 7
        with dask_backend("local:1"):
            second = permutation_test(statistic, response, n_permutations=50, random_state=3)
    finally:
        _permutation._TASK = old
    assert np.array_equal(first.null, second.null) and first.p_value == second.p_value


def _warn_task(task, shared):
    import logging

    logging.getLogger("organoidrx.models").warning("task %d: %s", task, shared)
    return task * 2


def test_a_task_refuses_a_worker_with_other_code():
    from organoidrx._compute import _call, code_fingerprint

    assert _call(lambda task, shared: task + shared, 1, 2, code_fingerprint())[0] == 3
    with pytest.raises(InputError, match=r"runs organoidrx 0\S+, not 0\.0\.0\+other like the run"):
        _call(lambda task, shared: task + shared, 1, 2, "0.0.0+other")


def test_what_a_task_logs_on_its_worker_is_logged_here_in_task_order(caplog):
    with dask_backend("local:2") as backend, caplog.at_level("WARNING", logger="organoidrx"):
        assert backend.map(_warn_task, list(range(6)), shared="careful") == [0, 2, 4, 6, 8, 10]
    messages = [r.getMessage() for r in caplog.records if r.name == "organoidrx.models"]
    assert messages == [f"task {i}: careful" for i in range(6)]


def _refuse_task(task, shared):
    with open(shared, "a") as handle:  # counts the runs of each task
        handle.write(f"{task}\n")
    if task == 1:
        raise InputError("bad value in task 1")
    return task


def test_an_input_error_on_a_worker_is_raised_here_once_not_retried(tmp_path):
    runs = tmp_path / "runs.txt"
    with dask_backend("local:2") as backend:
        with pytest.raises(InputError, match=r"^bad value in task 1$"):
            backend.map(_refuse_task, [0, 1, 2], shared=str(runs))
    assert runs.read_text().split().count("1") == 1  # a deterministic refusal is not run again


def _kill_the_worker(task: int, shared: object) -> int:
    if task == 1:
        os._exit(1)  # the worker process dies, as one killed for its memory
    return task


def test_a_task_that_kills_every_worker_is_one_clear_error():
    with dask_backend("local:2") as backend:
        assert backend is not None
        with pytest.raises(InputError, match=r"^every Dask worker that ran task 1 of this run died .*memory"):
            backend.map(_kill_the_worker, [0, 1, 2])


@pytest.mark.slow
def test_compare_on_a_local_cluster_writes_the_single_process_tables(tmp_path):
    from organoidrx.pipeline import compare_methods

    small = {"n_genes": 500, "n_pathways": 40, "n_organoids": 20, "n_patients_treated": 40}
    cohort = make_synthetic_cohort(**small, n_patients_untreated=0, drugs=("A", "B", "C"), random_state=2)
    config = cohort.write(tmp_path / "cohort")["config"]
    settings = {"measures": ["closest"], "scorers": ["ssgsea"], "models": ["ridge"], "n_random_sets": 30}
    compare_methods(config, tmp_path / "alone", **settings)
    compare_methods(config, tmp_path / "spread", dask="local:2", **settings)
    names = sorted(p.name for p in (tmp_path / "alone").iterdir())
    assert "leaderboard.tsv" in names
    for name in names:
        if name != "compare.json":
            assert (tmp_path / "alone" / name).read_bytes() == (tmp_path / "spread" / name).read_bytes(), name


@pytest.mark.slow
def test_cross_validation_of_drugs_on_the_cluster_is_the_single_process_table(cohort, cluster):
    from organoidrx.models import cross_validate_response, make_response_pipeline

    scores = score(cohort.organoid_expression, cohort.gene_sets)
    sets = {"few": list(scores.columns[:6])}

    def run(model):
        return cross_validate_response(
            scores, cohort.organoid_response, feature_sets=sets, model=model, n_random=5, random_state=1
        ).to_csv()

    for model in ("ridge", make_response_pipeline("svr", top_k=3)):
        with _backend(None):
            alone = run(model)
        with _backend(cluster):
            assert run(model) == alone
    # a cohort-dependent scorer: every fold's rescored training organoids travel with the drugs' tasks
    from organoidrx.scoring import rescorer

    zscores = score(cohort.organoid_expression, cohort.gene_sets, method="zscore")
    rescore = rescorer(cohort.organoid_expression, cohort.gene_sets, method="zscore")
    tables = []
    for backend in (None, cluster):
        with _backend(backend):
            tables.append(cross_validate_response(zscores, cohort.organoid_response, feature_sets=sets, n_random=5,
                                                  random_state=1, rescore=rescore).to_csv())  # fmt: skip
    assert tables[0] == tables[1]


def _double(task, shared):
    return task * 2 + shared


def test_a_window_keeps_at_most_that_many_tasks_on_the_cluster():
    consumed = []

    def tasks():
        for i in range(12):
            consumed.append(i)
            yield np.full(1000, i)

    seen = []
    with dask_backend("local:2") as backend:
        for i, result in backend.imap(_double, tasks(), shared=1, scatter_tasks=True, window=3):
            seen.append(i)
            assert len(consumed) <= len(seen) + 3  # read only as results come back
            assert result[0] == 2 * i + 1
    assert sorted(seen) == list(range(12))


@pytest.mark.slow
def test_a_streamed_parquet_scored_on_the_cluster_is_the_same_file(cohort, cluster, tmp_path):
    from organoidrx.scoring import score_file

    pytest.importorskip("pyarrow")
    path = tmp_path / "expression.parquet"
    cohort.patient_expression.T.rename_axis("gene").reset_index().to_parquet(path, index=False)
    with _backend(None):
        alone = score_file(path, cohort.gene_sets, tmp_path / "alone.tsv", chunk_samples=23)
    with _backend(cluster):
        spread = score_file(path, cohort.gene_sets, tmp_path / "spread.tsv", chunk_samples=23)
    assert alone.streamed and spread.streamed
    assert (tmp_path / "alone.tsv").read_bytes() == (tmp_path / "spread.tsv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("measure", ["closest", "separation", "diamond"])
def test_observed_values_of_a_large_problem_on_the_cluster_are_the_driver_s(
    cohort, cluster, monkeypatch, measure
):
    from organoidrx.network import _proximity

    monkeypatch.setattr(
        _proximity, "_CELLS", 1
    )  # one drug per range: "large", so the spans go to the workers

    with _backend(None):
        alone = _proximity_table(cohort, measure)
    sent = []
    original = cluster.map
    monkeypatch.setattr(
        cluster, "map", lambda fn, tasks, **kw: sent.append(fn.__name__) or original(fn, tasks, **kw)
    )
    with _backend(cluster):
        assert _proximity_table(cohort, measure) == alone
    assert sent == ["_observed_task"]


def test_a_server_that_accepts_but_never_answers_is_refused_in_bounded_time(monkeypatch):
    """distributed's Client timeout does not cover its handshake: a port that accepts and stays silent (a web
    server waiting for a request) would hang forever; it is one clear error after twice the connect time."""
    import socket
    import time

    from organoidrx import _compute

    monkeypatch.setattr(_compute, "_CONNECT_SECONDS", 1)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        start = time.perf_counter()
        with pytest.raises(InputError, match=r"did not answer as a Dask scheduler within 2 s .*local:N"):
            with dask_backend(f"tcp://127.0.0.1:{server.getsockname()[1]}"):
                pass
        assert time.perf_counter() - start < 15
