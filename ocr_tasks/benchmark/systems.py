"""The systems under benchmark, each run on the same documents and measured alike.

* the engine alone in a plain loop (pages rasterized as the pipeline does, handed over
  ``pages_per_call`` at a time), in a process of its own per engine configuration, so its
  peak RSS is its own;
* Tesseract 5 (``OMP_THREAD_LIMIT=1``), one process per core;
* the full flow: ``ocr-pipeline ingest`` (Prefect + Dask + Parquet) as a subprocess with N
  workers, its process tree sampled for CPU and RSS; its output is read back from the lake.
  The flows report to one standing Prefect server (``standing_prefect_server``), as in
  production, so that a run's pages/s is not a server start's.

CPU is process CPU (all threads, and waited-for children such as tesseract): on a shared host
it is the cost per page, where wall time depends on the neighbours.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ocr_tasks.benchmark.pageset import BenchDoc, pages_of
from ocr_tasks.core.config import EngineSettings
from ocr_tasks.core.errors import ExitCode
from ocr_tasks.core.loopback import answers, free_port
from ocr_tasks.core.prefetch import prefetch
from ocr_tasks.document import Box
from ocr_tasks.evaluation.funsd import predicted_words

STAGES = ("rasterize", "preprocess", "detect", "classify", "recognize", "write")


@dataclass
class PageResult:
    """What one system read on one page (word boxes, texts, confidences) and its timings."""

    doc: str
    index: int
    boxes: list[Box]
    texts: list[str]
    confs: list[float]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    """Figures of one system on a list of documents (several chunks add up)."""

    pages: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0  # per worker process (the largest one)
    results: list[PageResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, other: Run) -> None:
        self.pages += other.pages
        self.wall_s += other.wall_s
        self.cpu_s += other.cpu_s
        self.peak_rss_mb = max(self.peak_rss_mb, other.peak_rss_mb)
        self.results.extend(other.results)
        self.extra.update(other.extra)


def cpu_seconds() -> float:
    """CPU of this process (all threads) plus its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _result(doc: BenchDoc, index: int, page: Any, timings: dict[str, float]) -> PageResult:
    boxes, texts, confs, _ = predicted_words(page)
    return PageResult(doc.path.name, index, boxes, texts, confs, timings)


# --- the engine alone ----------------------------------------------------------------------

_ENGINE: Any = None
_RENDER_DPI = 200
_LAKE: Any = None


def pin_process(cpus: Sequence[int]) -> None:
    """Every thread of this process on ``cpus``, and through them what they start later.

    ``os.sched_setaffinity(0, ...)`` moves the calling thread only: an engine pinned that way
    after loading kept its runtime's and libraries' helper threads on every CPU (measured: a
    loop "on CPU 0" that ran beside a flow's worker on CPU 0 at full speed)."""
    for tid in _thread_ids():
        with contextlib.suppress(ProcessLookupError):  # a thread that has just exited
            os.sched_setaffinity(tid, set(cpus))


def _thread_ids() -> list[int]:
    """This process's threads (Linux); elsewhere 0, the calling thread."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    return [int(t) for t in os.listdir(tasks)] if tasks.is_dir() else [0]


def _init_engine(settings_json: str, cpus: Sequence[int] | None = None) -> None:
    global _ENGINE, _RENDER_DPI
    from ocr_tasks.engine.predictor import OcrEngine

    if cpus:  # before the engine loads: its runtime sizes its threads to what it sees
        pin_process(cpus)
    settings = EngineSettings.model_validate_json(settings_json)
    _ENGINE, _RENDER_DPI = OcrEngine(settings), settings.dpi


def _rasterized(docs: Sequence[BenchDoc], render_dpi: int
                ) -> Iterator[tuple[BenchDoc, Any, dict[str, float]]]:
    for doc in docs:
        pages = pages_of(doc, render_dpi)
        while True:
            w0, c0 = time.perf_counter(), time.process_time()
            image = next(pages, None)
            if image is None:
                break
            yield doc, image, {"rasterize": time.perf_counter() - w0,
                               "rasterize_cpu": time.process_time() - c0}


def engine_loop(engine: Any, docs: Sequence[BenchDoc], render_dpi: int,
                pages_out: list[tuple[BenchDoc, Any]] | None = None) -> Run:
    """OCR the documents' pages ``engine.pages_per_call`` at a time, as a worker does, with
    the rasterize time of each page added to its timings (wall and ``rasterize_cpu``); on a
    GPU the pages rasterize ahead on a thread (``engine.prefetch_pages``), as in a batch.
    ``pages_out`` receives the ``Page`` results."""
    run = Run()
    pending: list[tuple[BenchDoc, Any, dict[str, float]]] = []

    def flush() -> None:
        pages = engine.recognize_pages([p for _, p, _ in pending])
        for (doc, image, raster), page in zip(pending, pages, strict=True):
            run.results.append(_result(doc, image.index, page, {**page.timings, **raster}))
            if pages_out is not None:
                pages_out.append((doc, page))
        pending.clear()

    wall, cpu = time.perf_counter(), cpu_seconds()
    for entry in prefetch(_rasterized(docs, render_dpi), getattr(engine, "prefetch_pages", 0)):
        pending.append(entry)
        if len(pending) >= engine.pages_per_call:
            flush()
    if pending:
        flush()
    run.pages = len(run.results)
    run.wall_s, run.cpu_s = time.perf_counter() - wall, cpu_seconds() - cpu
    return run


def write_pages(lake: Any, pages: Sequence[tuple[BenchDoc, Any]], model_version: str) -> None:
    """The pages as the lake's rows (``page_rows``), written and committed as one batch:
    what a worker does with its pages after OCR."""
    from ocr_tasks.lake.rows import BatchContext, Row, page_rows

    ctx = BatchContext("bench", f"bench-{uuid.uuid4().hex[:12]}", "2026-01-01", model_version)
    rows: dict[str, list[Row]] = {"pages": [], "lines": [], "words": []}
    for doc, page in pages:
        for table, more in page_rows(doc.path.name, page, ctx, review_confidence=0.8).items():
            rows[table].extend(more)
    lake.write_batch(ctx, rows)


def _scratch_lake() -> Any:
    from ocr_tasks.lake.tables import Lake

    folder = tempfile.mkdtemp(prefix="ocr-bench-lake-")
    atexit.register(shutil.rmtree, folder, True)
    return Lake.open(folder)


def _thread_affinity() -> dict[int, list[int]]:
    return {tid: sorted(os.sched_getaffinity(tid)) for tid in _thread_ids()}


def _probe() -> float:
    """CPU the worker process spent so far: right after start, loading the engine."""
    return cpu_seconds()


def _engine_chunk(docs: list[BenchDoc]) -> Run:
    pages: list[tuple[BenchDoc, Any]] = []
    run = engine_loop(_ENGINE, docs, _RENDER_DPI, pages)
    global _LAKE
    _LAKE = _LAKE or _scratch_lake()
    wall, cpu = time.perf_counter(), time.process_time()
    write_pages(_LAKE, pages, _ENGINE.model_version)
    share = 1 / max(1, len(run.results))
    for r in run.results:  # a stage of its own, outside the engine's CPU s/page
        r.timings["write"] = (time.perf_counter() - wall) * share
        r.timings["write_cpu"] = (time.process_time() - cpu) * share
    run.peak_rss_mb = _maxrss_mb()
    run.extra["backend"] = _ENGINE.backend.name
    run.extra["device"] = _ENGINE.device
    if _ENGINE.on_gpu:
        import torch

        run.extra["gpu"] = torch.cuda.get_device_name(torch.device(_ENGINE.device))
        run.extra["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return run


class EngineSystem:
    """One engine configuration in a process of its own, fed chunk by chunk; on ``cpus``
    from before its engine loads when given (as a worker started on them is)."""

    def __init__(self, name: str, settings: EngineSettings, warmup: Sequence[BenchDoc],
                 cpus: Sequence[int] | None = None) -> None:
        self.name, self.settings = name, settings
        self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"),
                                         initializer=_init_engine,
                                         initargs=(settings.model_dump_json(), cpus))
        # CPU of starting the process and loading the engine: a worker pays it once per run
        self.load_cpu_s = self._pool.submit(_probe).result()
        if warmup:  # model load, compilation, first-shape costs stay out of the figures
            self._pool.submit(_engine_chunk, list(warmup)).result()

    def run(self, docs: list[BenchDoc]) -> Run:
        run = self.submit(docs).result()
        run.extra["load_cpu_s"] = round(self.load_cpu_s, 2)
        return run

    def submit(self, docs: list[BenchDoc]) -> Future[Run]:
        """Start ``docs`` and return at once, so that several engines run side by side."""
        return self._pool.submit(_engine_chunk, docs)

    def pin(self, cpus: Sequence[int]) -> None:
        """Keep the engine's process, every thread of it, on ``cpus`` from now on."""
        self._pool.submit(pin_process, list(cpus)).result()

    def affinity(self) -> dict[int, list[int]]:
        """The CPUs each thread of the engine's process may run on, by thread id."""
        return self._pool.submit(_thread_affinity).result()

    def close(self) -> None:
        self._pool.shutdown()


# --- Tesseract -----------------------------------------------------------------------------

_TESSERACT: Any = None


def _init_tesseract() -> None:
    global _TESSERACT
    from ocr_tasks.evaluation.tesseract import TesseractEngine

    _TESSERACT = TesseractEngine()


def _tesseract_doc(doc: BenchDoc, render_dpi: int) -> Run:
    run = Run()
    wall, cpu = time.perf_counter(), cpu_seconds()
    for image in pages_of(doc, render_dpi):
        (page,) = _TESSERACT.recognize_pages([image])
        run.results.append(_result(doc, image.index, page, dict(page.timings)))
    run.pages = len(run.results)
    run.wall_s, run.cpu_s = time.perf_counter() - wall, cpu_seconds() - cpu
    run.peak_rss_mb = _maxrss_mb()
    return run


class TesseractSystem:
    """Tesseract (LSTM, ``OMP_THREAD_LIMIT=1``) in one process per core, a document a task."""

    name = "tesseract"

    def __init__(self, processes: int | None = None, render_dpi: int = 200) -> None:
        self.processes = processes or os.cpu_count() or 1
        self.render_dpi = render_dpi
        self._pool = ProcessPoolExecutor(self.processes, mp_context=get_context("spawn"),
                                         initializer=_init_tesseract)

    def run(self, docs: list[BenchDoc]) -> Run:
        total = Run()
        wall = time.perf_counter()
        for part in [self._pool.submit(_tesseract_doc, d, self.render_dpi) for d in docs]:
            total.add(part.result())
        total.wall_s = time.perf_counter() - wall  # the processes ran side by side
        return total

    def close(self) -> None:
        self._pool.shutdown()


# --- the full flow -------------------------------------------------------------------------


@dataclass
class _Proc:
    cmdline: str
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0


def _is_worker(cmdline: str) -> bool:
    """Dask's nanny starts its worker processes through multiprocessing's spawn."""
    return "spawn_main" in cmdline and "resource_tracker" not in cmdline


def _sample_tree(root: Any, seen: dict[int, _Proc], stop: threading.Event) -> None:
    import psutil

    while not stop.is_set():
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:  # the command (or a child being listed) has just exited
            tree = [root]
        for p in tree:
            try:
                with p.oneshot():
                    t, rss = p.cpu_times(), p.memory_info().rss
                    entry = seen.get(p.pid)
                    if entry is None:
                        entry = seen[p.pid] = _Proc(" ".join(p.cmdline()))
                    entry.cpu_s = t.user + t.system
                    entry.peak_rss_mb = max(entry.peak_rss_mb, rss / 2**20)
            except psutil.Error:
                continue
        stop.wait(0.2)


@dataclass(frozen=True)
class PrefectServer:
    """A Prefect API the flows report to, and what starting it cost (once per deployment)."""

    env: dict[str, str]
    start_s: float


@contextlib.contextmanager
def standing_prefect_server(home: Path, timeout_s: float = 120.0) -> Iterator[PrefectServer]:
    """``ocr-pipeline ui`` on a free loopback port over ``home``'s database, until exit.

    Production keeps one Prefect server running and every run reports to it
    (PREFECT_API_URL); without one, each ``ingest`` starts a temporary server, which on a
    short benchmark set weighs more than the pages do (about 15 s of the command on this
    2-core host, the first time with its database migrations)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    api = f"http://127.0.0.1:{port}/api"
    started = time.perf_counter()
    with (home / "bench-server.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ocr_tasks.cli", "ui", "--port",
                                 str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        while not answers(f"{api}/health", timeout_s=1.0):
            if proc.poll() is not None or time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"the Prefect server did not start (log: "
                                   f"{home / 'bench-server.log'})")
            time.sleep(0.5)
        yield PrefectServer({"PREFECT_HOME": str(home), "PREFECT_API_URL": api},
                            time.perf_counter() - started)
    finally:
        _stop(proc)  # `ui` stops its server on SIGTERM


@contextlib.contextmanager
def standing_dask_cluster(cpus: Sequence[int] | None, env: dict[str, str],
                          log_dir: Path, timeout_s: float = 120.0, *,
                          workers: int = 1) -> Iterator[str]:
    """``dask scheduler`` and ``workers`` single-threaded worker processes (one ``dask
    worker`` command) on loopback, all on ``cpus`` and with a worker's environment
    (``core.worker_env``) plus ``env`` (the Prefect API their task runs report to), until
    exit; yields the scheduler's address.

    Production runs its flows on such a standing cluster (``--dask-address``): a worker loads
    its engine and compiles its page shapes once, then serves batch after batch and run after
    run. A flow that starts its own cluster pays that in every run."""
    from distributed import Client

    from ocr_tasks.core.worker_env import WORKER_MEMORY_LIMIT, worker_process_env

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    child_env = {**os.environ, **worker_process_env(), **env}
    pin = None if not cpus else (lambda: os.sched_setaffinity(0, set(cpus)))
    procs: list[subprocess.Popen[bytes]] = []
    log_dir.mkdir(parents=True, exist_ok=True)
    commands = {
        "scheduler": ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                      "--no-dashboard"],
        "worker": ["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers",
                   str(workers), "--no-dashboard", "--memory-limit", WORKER_MEMORY_LIMIT],
    }
    try:
        for name, args in commands.items():
            with (log_dir / f"bench-dask-{name}-{port}.log").open("ab") as log:
                procs.append(subprocess.Popen([sys.executable, "-m", "dask", *args],
                                              env=child_env, stdout=log,
                                              stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, preexec_fn=pin))
        with Client(address, timeout=f"{timeout_s}s") as client:
            client.wait_for_workers(workers, timeout=timeout_s)
        yield address
    finally:
        for proc in reversed(procs):  # the worker first: it leaves the scheduler cleanly
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def flow_cores(workers: int, matched: bool) -> list[int] | None:
    """The CPUs a flow with ``workers`` workers may use: as many as workers when
    ``matched`` (None where the host has fewer or cannot pin), else None (all of them).

    Matched cores make "2 workers against 1" a scaling figure: unpinned on a 2-core host the
    one-worker run also gets the second core for its read-ahead thread, Parquet writes,
    poppler and the scheduler, so two workers cannot double it however well they scale."""
    if not matched or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[:workers] if len(cpus) >= workers else None


def run_flow(source: Path, lake: Path, workers: int, *, batch_pages: int,
             env: dict[str, str] | None = None, cpus: Sequence[int] | None = None,
             dask_address: str | None = None) -> Run:
    """``ocr-pipeline ingest`` of ``source`` into a new ``lake`` with ``workers`` Dask
    workers, on ``cpus`` only when given (its processes inherit the affinity); CPU of the
    whole process tree (the flow, scheduler, workers, and a temporary Prefect server when no
    API is in ``env``), and of the workers alone, with the peak RSS of the largest worker.
    With ``dask_address`` the batches run on that standing cluster instead, whose workers
    are not in the tree (their CPU and RSS are not counted)."""
    import psutil

    from ocr_tasks.lake.tables import Lake

    # as many batches in flight as workers: with the default 8 the planner cuts a small set
    # into batches for 8 slots (job.guided_batch_pages)
    cmd = [sys.executable, "-m", "ocr_tasks.cli", "ingest", str(source), "--lake", str(lake),
           "--workers", str(workers), "--batch-pages", str(batch_pages),
           "--max-in-flight", str(workers), "--no-progress"]
    if dask_address:
        cmd += ["--dask-address", dask_address]
    seen: dict[int, _Proc] = {}
    stop = threading.Event()
    wall, cpu, before = time.perf_counter(), cpu_seconds(), os.times()
    proc = psutil.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
    if cpus:  # before the interpreter has started anything: every child inherits it
        proc.cpu_affinity(list(cpus))
    sampler = threading.Thread(target=_sample_tree, args=(proc, seen, stop), daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    run = Run(wall_s=time.perf_counter() - wall, cpu_s=cpu_seconds() - cpu)
    after = os.times()  # the command's own tree, without this process's threads
    run.extra["command_cpu_s"] = (after.children_user + after.children_system
                                  - before.children_user - before.children_system)
    if proc.returncode not in (ExitCode.OK, ExitCode.DEGRADED):  # degraded: all pages written
        raise RuntimeError(f"ingest with {workers} workers failed ({proc.returncode}): "
                           f"{out[-2000:]}")
    run.extra["quality"] = "degraded" if proc.returncode == ExitCode.DEGRADED else "ok"
    worker_procs = [p for p in seen.values() if _is_worker(p.cmdline)]
    run.peak_rss_mb = max((p.peak_rss_mb for p in worker_procs), default=0.0)
    run.extra["worker_cpu_s"] = sum(p.cpu_s for p in worker_procs)
    run.extra["cores"] = len(cpus) if cpus else os.cpu_count()
    run.extra["worker_peak_rss_mb"] = sorted(round(p.peak_rss_mb) for p in worker_procs)
    run.results = lake_results(lake)
    run.pages = len(run.results)
    batches = Lake.open(str(lake)).read_table("batches", ["seconds", "canary_pages"]).to_pylist()
    run.extra["batch_seconds"] = float(sum(b["seconds"] for b in batches))
    run.extra["canary_pages"] = int(sum(b["canary_pages"] for b in batches))
    return run


def lake_results(lake: Path, names: dict[str, str] | None = None) -> list[PageResult]:
    """Words and stage timings per page, read back from the lake's tables; ``names`` maps
    doc ids to file names (default: the ``documents`` table's source uris)."""
    from ocr_tasks.lake.tables import Lake

    table = Lake.open(str(lake))
    if names is None:
        docs = table.read_table("documents", ["doc_id", "source_uri"]).to_pylist()
        names = {d["doc_id"]: Path(d["source_uri"]).name for d in docs}
    words = table.read_table("words", ["doc_id", "page", "text", "confidence",
                                       "x0", "y0", "x1", "y1"]).to_pylist()
    pages = table.read_table("pages", ["doc_id", "page", "t_rasterize_ms", "t_preprocess_ms",
                                       "t_detect_ms", "t_recognize_ms"]).to_pylist()
    results = {
        (p["doc_id"], p["page"]): PageResult(
            names[p["doc_id"]], p["page"], [], [], [],
            {k[2:-3]: (p[k] or 0.0) / 1000.0 for k in p if k.startswith("t_")})
        for p in pages
    }
    for w in words:
        r = results[(w["doc_id"], w["page"])]
        r.boxes.append((w["x0"], w["y0"], w["x1"], w["y1"]))
        r.texts.append(w["text"])
        r.confs.append(w["confidence"])
    return list(results.values())

