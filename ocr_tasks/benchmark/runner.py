"""One benchmark run: every system on the same pages, interleaved, then the comparisons.

The documents are cut into chunks of about ``chunk_pages`` pages; each round hands the next
chunk to every engine configuration and to Tesseract in turn (the order rotates), so a change
in the host's load falls on all of them alike. The flows ingest the whole generated set, once
with each worker count, half way through the rounds.

With ``overhead_pairs``, the flow's overhead is measured once more after the rounds so that
the host's drift cancels out (it moves the same pages' time by 10-30 % within an hour here, as
much as the overhead): the engine loop and a one-worker flow alternate on one generated
200-dpi set, both on the same CPU, the flows on one standing worker as in production, each
flow compared with the mean of the loops just before and after it (:func:`overhead_pair`);
the comparisons take the median over the warm worker's pairs and report the first (cold)
pair beside it. With ``overhead_side_by_side``, the same worker's flows then run at the same
time as the loop on that one CPU, each measured in CPU seconds per page over the same
minutes (:func:`side_by_side`): no drift of the host's speed can fall on one and not the
other.

With ``scaling_pairs``, the scaling from one worker to two is measured the same way: the
one-worker and the two-worker flow alternate on the whole generated set, each on its own
standing cluster (one CPU, two CPUs) warmed by a small run first, each two-worker flow
against the mean of the one-worker flows on either side (:func:`scaling_pair`); the
comparisons take the median. Between them, plain engine loops (one process, then two at
once) measure what the host itself gives a second core on the same work, the ceiling the
flow's ratio is read against. The single flows of the rounds start their own clusters, so
each of them also pays a cluster start and the engine loads in its few minutes; their one
ratio moves with the host from run to run (1.5x-2.0x here).
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ocr_tasks.benchmark.pageset import BenchDoc, funsd_docs, make_synth_set, synth_docs
from ocr_tasks.benchmark.report import figures
from ocr_tasks.benchmark.systems import (
    EngineSystem,
    Run,
    TesseractSystem,
    flow_cores,
    run_flow,
    standing_dask_cluster,
    standing_prefect_server,
)
from ocr_tasks.core.config import EngineSettings, PipelineSettings
from ocr_tasks.evaluation.tesseract import tesseract_available

# The engine as configured before the fast CPU path (the accuracy reference).
TODAY = {"backend": "onnx", "det_scale": 1.0, "unclip_ratio": 1.6,
         "skip_line_classifier_below": 0.0}
ENGINES: dict[str, dict[str, Any]] = {
    "engine": {},  # today's defaults
    "previous": TODAY,
    "onnx": {"backend": "onnx"},
    "onnx-arena": {"backend": "onnx", "onnx_memory_arena": True},
    "ov-f32": {"backend": "openvino", "openvino_precision": "f32"},
    "ov-bf16": {"backend": "openvino", "openvino_precision": "bf16"},
    "no-skip": {"skip_line_classifier_below": 0.0},
    "det-1.0": {"det_scale": 1.0, "unclip_ratio": 1.6},
    "rec-16": {"rec_batch_size": 16},
    "fp32": {"half_precision": False},  # CUDA without fp16
}
FLOWS = {"flow-1": 1, "flow-2": 2}
TRAINED = "trained"  # today's engine settings with the model version of --model
DEFAULT_SYSTEMS = ("previous", "engine", "flow-1", "flow-2", "tesseract")


@dataclass
class BenchConfig:
    """What to run: the pages, the systems and where to work."""

    work: Path
    pages: int = 100
    funsd: Path | None = None
    funsd_pages: int = 50
    funsd_split: str | None = None  # only this split's pages (of ``fractions``)
    fractions: tuple[float, float, float] = (0.8, 0.2, 0.0)
    model: str | None = None  # a stored model version, run as the system "trained"
    systems: Sequence[str] = DEFAULT_SYSTEMS
    seed: int = 0
    dpis: Sequence[int] = (150, 200, 300)
    chunk_pages: int = 10
    flow_batch_pages: int | None = None  # None: flow_batch_pages(pages)
    flow_matched_cores: bool = True  # each flow on as many CPUs as it has workers
    overhead_pairs: int = 0  # engine-loop / one-worker-flow pairs after the rounds
    overhead_pages: int = 32  # pages of their set: one canary at the production rate
    overhead_side_by_side: int = 0  # then flows beside the loop on the same CPU, at once
    scaling_pairs: int = 0  # one-worker / two-worker flow pairs on standing clusters
    scaling_host_pages: int = 32  # pages of the plain loops measured beside them (0: none)
    engine: EngineSettings = field(default_factory=EngineSettings)


def flow_batch_pages(pages: int) -> int:
    """Batch size for the flows: two batches of a little over half the set for one worker
    (documents are not cut below a batch, so the packing needs slack); with 2 workers the
    planner cuts the set finer towards its end (``job.guided_batch_pages``) so that both
    end together. The canaries are the wave's either way (one per 32 pages)."""
    return max(1, math.ceil(pages * 0.55))


def known_systems() -> list[str]:
    return [*ENGINES, TRAINED, *FLOWS, "tesseract"]


def chunks(docs: Sequence[BenchDoc], pages: int) -> list[list[BenchDoc]]:
    """Consecutive documents holding about ``pages`` pages each."""
    out: list[list[BenchDoc]] = [[]]
    count = 0
    for d in docs:
        if count >= pages:
            out.append([])
            count = 0
        out[-1].append(d)
        count += d.pages
    return [c for c in out if c]


def run_benchmark(cfg: BenchConfig, log: Any = print) -> dict[str, Any]:
    """Run the systems of ``cfg`` and return the rows of the table and the comparisons."""
    unknown = sorted(set(cfg.systems) - set(known_systems()))
    if unknown:
        raise ValueError(f"unknown systems {unknown}; known: {known_systems()}")
    dpi_tag = "-".join(str(d) for d in cfg.dpis)
    synth_dir = cfg.work / f"synth-{cfg.pages}-seed{cfg.seed}-dpi{dpi_tag}"
    sets: dict[str, list[BenchDoc]] = {}
    if cfg.pages > 0:
        log(f"generating {cfg.pages} pages in {synth_dir} (reused when present)")
        make_synth_set(synth_dir, cfg.pages, cfg.seed, cfg.dpis)
        sets["synth"] = synth_docs(synth_dir, cfg.engine.dpi)
    if cfg.funsd is not None and cfg.funsd_pages > 0:
        sets["funsd"] = funsd_docs(cfg.funsd, cfg.funsd_pages, cfg.funsd_split, cfg.fractions)
    if TRAINED in cfg.systems and not cfg.model:
        raise ValueError(f"the system {TRAINED!r} needs a model version (--model)")
    rounds = {name: chunks(docs, cfg.chunk_pages) for name, docs in sets.items()}
    schedule = [(name, c) for i in range(max(map(len, rounds.values()), default=0))
                for name in rounds if i < len(rounds[name]) for c in [rounds[name][i]]]

    engines: dict[str, Any] = {}
    warm = [d for docs in sets.values() for d in docs[:1]]
    for name in cfg.systems:
        if name in ENGINES or name == TRAINED:
            log(f"starting {name}")
            update = ENGINES[name] if name in ENGINES else {"model": cfg.model}
            settings = cfg.engine.model_copy(update=update)
            engines[name] = EngineSystem(name, settings, [_first_page(d) for d in warm])
        elif name == "tesseract" and not tesseract_available():
            log("tesseract: skipped, not installed (make bench-deps)")
        elif name == "tesseract":
            engines[name] = TesseractSystem(render_dpi=cfg.engine.dpi)
    runs: dict[tuple[str, str], Run] = {}
    extra: dict[str, Any] = {}
    flows = [s for s in cfg.systems if s in FLOWS and "synth" in sets]
    try:
        for k, (set_name, chunk) in enumerate(schedule):
            order = list(engines)
            order = order[k % len(order):] + order[: k % len(order)] if order else order
            for name in order:
                part = engines[name].run(chunk)
                runs.setdefault((name, set_name), Run()).add(part)
            log(f"round {k + 1}/{len(schedule)} ({set_name}, {sum(d.pages for d in chunk)} "
                f"pages) done")
            if k == len(schedule) // 2 and flows:
                with standing_prefect_server(cfg.work / "prefect-home") as server:
                    log(f"Prefect server started in {server.start_s:.1f} s")
                    extra["prefect_server_start_s"] = round(server.start_s, 2)
                    for name in flows:
                        log(f"running {name} on {synth_dir.name}")
                        lake = cfg.work / f"lake-{name}"
                        shutil.rmtree(lake, ignore_errors=True)
                        batch = cfg.flow_batch_pages or flow_batch_pages(cfg.pages)
                        cpus = flow_cores(FLOWS[name], cfg.flow_matched_cores)
                        runs[(name, "synth")] = run_flow(synth_dir, lake, FLOWS[name],
                                                         batch_pages=batch, env=server.env,
                                                         cpus=cpus)
                flows = []
        if cfg.overhead_pairs or cfg.overhead_side_by_side:
            pairs = overhead_pairs(cfg.work, cfg.overhead_pairs, cfg.engine,
                                   pages=cfg.overhead_pages, seed=cfg.seed,
                                   side_by_side_runs=cfg.overhead_side_by_side, log=log)
            extra["flow_overhead_pairs"] = pairs
        if cfg.scaling_pairs and "synth" in sets:
            extra["flow_scaling_pairs"] = scaling_pairs(
                cfg.work, synth_dir, cfg.scaling_pairs,
                batch_pages=cfg.flow_batch_pages or flow_batch_pages(cfg.pages), seed=cfg.seed,
                host_pages=cfg.scaling_host_pages, engine=cfg.engine, log=log)
    finally:
        for system in engines.values():
            system.close()
    workers = {**FLOWS, "tesseract": getattr(engines.get("tesseract"), "processes", 1)}
    rows = [figures(name, set_name, run, sets[set_name], workers.get(name, 1))
            for (name, set_name), run in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0]))]
    compared = comparisons(rows)
    compared.update(overhead_medians(extra.get("flow_overhead_pairs", [])))
    compared.update(scaling_medians(extra.get("flow_scaling_pairs", [])))
    return {"rows": rows, "comparisons": compared, **extra}


def _bracketed(runs: Sequence[Run], per_page: Callable[[Run], float]) -> float:
    """The mean of ``per_page(run)`` over the runs on either side of the measured one: a
    drift of the host's speed that is steady across the three falls out."""
    return statistics.fmean(per_page(r) for r in runs)


def overhead_pair(loops: Sequence[Run], flow: Run) -> dict[str, float]:
    """One pair's figures, the flow against the engine loops just before and just after it
    (each plus writing its rows, as a batch does) on the same pages: ``command`` (the whole
    command's wall per page), ``batches`` (inside the batches: read, OCR, canaries, quality,
    rows, commit) and ``fixed_s`` (the command's seconds outside its batches, paid once per
    run whatever its size)."""

    def loop_s_per_page(loop: Run) -> float:
        write_s = sum(r.timings.get("write", 0.0) for r in loop.results)
        return (loop.wall_s + write_s) / max(1, loop.pages)

    per_page = _bracketed(loops, loop_s_per_page)
    batches = float(flow.extra["batch_seconds"])
    pages = max(1, flow.pages)
    return {
        "engine_s_per_page": round(per_page, 4),
        "flow_s_per_page": round(flow.wall_s / pages, 4),
        "command": round(flow.wall_s / pages / per_page - 1, 4),
        "batches": round(batches / pages / per_page - 1, 4),
        "fixed_s": round(flow.wall_s - batches, 2),
        "canary_pages": flow.extra["canary_pages"],
    }


@dataclass(frozen=True)
class LoopChunk:
    """One call of the engine loop that runs beside a flow: when it ended (``perf_counter``),
    its wall seconds, its CPU seconds (OCR and rows) and its pages."""

    ended: float
    wall_s: float
    cpu_s: float
    pages: int


def side_by_side(chunks: Sequence[LoopChunk], start: float, end: float, *, pages: int,
                 worker_cpu_s: float, flow_cpu_s: float) -> dict[str, Any]:
    """A flow against the engine loop that ran at the same time on its CPU: CPU seconds per
    page of the worker (``worker``: OCR, canaries, quality, rows, the task's bookkeeping)
    and of every process of the flow (``flow``: also the command's start and end and the
    scheduler), each over the loop's, from the loop's chunks that ran wholly between
    ``start`` and ``end``. The kernel shares the CPU between the two every few
    milliseconds, so whatever the host's speed does falls on both alike."""
    inside = [c for c in chunks if c.ended - c.wall_s >= start and c.ended <= end]
    loop_pages = sum(c.pages for c in inside)
    if not loop_pages or not pages:
        raise ValueError("no loop call ran wholly beside the flow: nothing to compare")
    loop = sum(c.cpu_s for c in inside) / loop_pages
    return {
        "engine_cpu_s_per_page": round(loop, 4),
        "worker_cpu_s_per_page": round(worker_cpu_s / pages, 4),
        "worker": round(worker_cpu_s / pages / loop - 1, 4),
        "flow": round(flow_cpu_s / pages / loop - 1, 4),
        "loop_pages": loop_pages,
        "side_by_side": True,
    }


def overhead_medians(pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The comparisons' view of the pairs: the median of each figure over the pairs on a
    warm worker, and the first pair's (``cold``: the worker loads its engine and compiles
    its page shapes in that run's first batch) as it came; the median of the side-by-side
    runs' figures."""
    beside = [p for p in pairs if p.get("side_by_side")]
    warm = [p for p in pairs if not p.get("cold") and not p.get("side_by_side")]
    out: dict[str, Any] = {}
    if beside:
        out["flow_1_overhead_side_by_side_runs"] = len(beside)
        out.update(_medians(beside, ("worker", "flow"), "flow_1_overhead_side_by_side_cpu_"))
    if warm:
        out["flow_1_overhead_pairs"] = len(warm)
        out.update(_medians(warm, ("command", "batches"), "flow_1_overhead_median_"))
        out["flow_1_fixed_s_median"] = round(statistics.median(p["fixed_s"] for p in warm), 2)
    for p in pairs:
        if p.get("cold"):
            out.update({f"flow_1_overhead_cold_{key}": p[key] for key in ("command", "batches")})
    return out


def overhead_pairs(work: Path, pairs: int, settings: EngineSettings, *, pages: int = 32,
                   seed: int = 0, side_by_side_runs: int = 0,
                   log: Any = print) -> list[dict[str, Any]]:
    """The engine loop against a one-worker flow on the same generated 200-dpi set, both on
    the flow's one CPU, as a chain loop, flow, loop, flow, ..., loop: each flow against the
    mean of the loops on either side (the host's speed moves by 10-30 % within an hour
    here). The first flow runs on a fresh worker (the ``cold`` pair), the next ``pairs`` on
    the same worker, as production's standing cluster serves run after run
    (``standing_dask_cluster``); the flows report to one standing Prefect server and run at
    the production batch size. The loop's engine (``settings``) is a process of its own that
    has seen only this set, as the worker has: one that read other pages keeps their
    detector shapes compiled (``engine.static_shapes``) and may run this set's on the
    any-size model.

    Then ``side_by_side_runs`` flows on the same warm worker, each with the loop running
    beside it on the same CPU at the same time (:func:`side_by_side`)."""
    folder = work / f"synth-{pages}-seed{seed}-dpi200"
    make_synth_set(folder, pages, seed, (200,))
    docs = synth_docs(folder, settings.dpi)
    cpus = flow_cores(1, True)
    lake = work / "lake-flow-overhead"
    out: list[dict[str, Any]] = []
    with (closing(EngineSystem("engine", settings, docs[:1], cpus)) as engine,
          standing_prefect_server(work / "prefect-home") as server,
          standing_dask_cluster(cpus, server.env, work / "prefect-home") as address):
        loop = engine.run(docs)
        for i in range(pairs + 1):
            shutil.rmtree(lake, ignore_errors=True)
            flown = run_flow(folder, lake, 1, batch_pages=PipelineSettings().batch_pages,
                             env=server.env, cpus=cpus, dask_address=address)
            loop, before = engine.run(docs), loop
            out.append({**overhead_pair((before, loop), flown),
                        **({"cold": True} if i == 0 else {})})
            log(f"overhead pair {i}/{pairs}{' (cold worker)' if i == 0 else ''}: " + ", ".join(
                f"{k} {v}" for k, v in out[-1].items() if k != "cold"))
        for i in range(side_by_side_runs):
            shutil.rmtree(lake, ignore_errors=True)
            out.append(_beside_loop(engine, docs, lambda: run_flow(
                folder, lake, 1, batch_pages=PipelineSettings().batch_pages, env=server.env,
                cpus=cpus, dask_address=address), address))
            log(f"overhead side by side {i + 1}/{side_by_side_runs}: " + ", ".join(
                f"{k} {v}" for k, v in out[-1].items() if k != "side_by_side"))
    return out


def _beside_loop(engine: EngineSystem, docs: Sequence[BenchDoc], flow: Callable[[], Run],
                 address: str) -> dict[str, Any]:
    """``flow()`` while ``engine`` loops over ``docs``, one document a call, from before the
    flow starts until it has ended; CPU of the cluster's worker and scheduler over the flow,
    read from their processes (a standing cluster's are not the command's children)."""
    import psutil
    from distributed import Client

    with Client(address, timeout="30s") as client:
        (worker_pid,) = client.run(os.getpid).values()
        scheduler_pid = client.run_on_scheduler(os.getpid)
    worker, scheduler = psutil.Process(worker_pid), psutil.Process(scheduler_pid)
    chunks: list[LoopChunk] = []
    failed: list[BaseException] = []
    stop = threading.Event()

    def loop() -> None:
        try:
            for doc in itertools.cycle(docs):
                if stop.is_set():
                    return
                run = engine.run([doc])
                write_cpu = sum(r.timings.get("write_cpu", 0.0) for r in run.results)
                chunks.append(LoopChunk(time.perf_counter(), run.wall_s,
                                        run.cpu_s + write_cpu, run.pages))
        except BaseException as exc:  # raised below, not lost with the thread
            failed.append(exc)

    def cpu(p: Any) -> float:  # with its finished children: poppler renders the PDFs
        t = p.cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)

    looping = threading.Thread(target=loop, daemon=True)
    looping.start()
    try:
        time.sleep(2.0)  # the loop is under way before the flow starts
        w0, s0, start = cpu(worker), cpu(scheduler), time.perf_counter()
        flown = flow()
        end, w1, s1 = time.perf_counter(), cpu(worker), cpu(scheduler)
    finally:
        stop.set()
        looping.join()
    if failed:
        raise RuntimeError("the engine loop beside the flow failed") from failed[0]
    return side_by_side(chunks, start, end, pages=flown.pages, worker_cpu_s=w1 - w0,
                        flow_cpu_s=(w1 - w0) + (s1 - s0) + flown.extra["command_cpu_s"])


def scaling_pair(ones: Sequence[Run], two: Run,
                 host: tuple[Sequence[Run], Sequence[Run]] | None = None) -> dict[str, float]:
    """One pair's figures, the two-worker flow against the one-worker flows just before and
    just after it on the same pages: ``command`` (pages/s of the whole commands),
    ``batches`` (inside the batches, :func:`in_batches_ratio`) and each run's worker seconds
    per page inside its batches (two workers that slow each other down show it there).

    ``host``: engine loops without Prefect or Dask, (one process alone before and after,
    two processes at once) measured between those flows. Their ratio (``host``) is what
    this host gives a second process of the same work when both cores are busy; the flow's
    ratio inside the batches over it (``share_of_host``) is what the orchestration keeps of
    it."""
    one_s = _bracketed(ones, lambda r: float(r.extra["batch_seconds"]) / max(1, r.pages))
    two_s = float(two.extra["batch_seconds"]) / max(1, two.pages)
    one_rate = _bracketed(ones, lambda r: r.pages / r.wall_s)
    out = {
        "pages_per_s_1": round(one_rate, 4),
        "pages_per_s_2": round(two.pages / two.wall_s, 4),
        "command": round(two.pages / two.wall_s / one_rate, 3),
        "batches": in_batches_ratio(one_s, two_s),
        "worker_s_per_page_1": round(one_s, 4),
        "worker_s_per_page_2": round(two_s, 4),
    }
    if host is not None:
        alone, both = host
        alone_s = _bracketed(alone, lambda r: r.wall_s / max(1, r.pages))
        both_s = sum(r.wall_s for r in both) / max(1, sum(r.pages for r in both))
        out["host"] = in_batches_ratio(alone_s, both_s)
        out["loop_s_per_page_1"] = round(alone_s, 4)
        out["loop_s_per_page_2"] = round(both_s, 4)
        out["share_of_host"] = round(out["batches"] / out["host"], 3)
    return out


def scaling_medians(pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The comparisons' view of the scaling pairs: the median of each ratio."""
    if not pairs:
        return {}
    out = {"flow_2_vs_1_scaling_pairs": len(pairs),
           **_medians(pairs, ("command", "batches"), "flow_2_vs_1_workers_median_")}
    if all("host" in p for p in pairs):
        out.update(_medians(pairs, ("host", "share_of_host"), "flow_2_vs_1_median_"))
    return out


def _medians(pairs: Sequence[dict[str, Any]], keys: Sequence[str], prefix: str
             ) -> dict[str, float]:
    """``prefix + key``: the median of ``key`` over the pairs, to 3 places."""
    return {prefix + key: round(statistics.median(p[key] for p in pairs), 3) for key in keys}


def scaling_pairs(work: Path, folder: Path, pairs: int, *, batch_pages: int, seed: int = 0,
                  host_pages: int = 32, engine: EngineSettings | None = None,
                  log: Any = print) -> list[dict[str, Any]]:
    """The one-worker flow against the two-worker flow on the set in ``folder``, as a chain
    1, 2, 1, 2, ..., 1 (each two-worker flow against the mean of the one-worker flows on
    either side), each on a standing cluster of its own (one worker on one CPU, two on two,
    ``flow_cores``) that a small run of 4 generated pages warmed first (engine load, first
    compilations), as production's standing cluster serves run after run; the flows report
    to one standing Prefect server.

    With ``host_pages``, the host's own ceiling is measured in the same chain: after each
    flow, ``engine`` in plain loops over the first ``host_pages`` pages of the set, one
    process on the one-worker flow's CPU after a one-worker flow, two processes at once on
    the two-worker flow's CPUs after a two-worker flow (:func:`scaling_pair`)."""
    warm = work / f"synth-4-seed{seed}-dpi200"
    make_synth_set(warm, 4, seed, (200,))
    cpus = {n: flow_cores(n, True) for n in (1, 2)}
    settings = engine or EngineSettings()
    sample = chunks(synth_docs(folder, settings.dpi), host_pages)[0] if host_pages else []
    plain: list[EngineSystem] = []
    out: list[dict[str, Any]] = []

    def host(processes: int) -> list[Run]:
        if not plain:
            return []
        placed = plain[:processes]
        for system in placed:
            system.pin(cpus[processes] or [])
        futures = [system.submit(sample) for system in placed]
        return [f.result() for f in futures]

    try:
        if sample and cpus[1] and cpus[2]:
            for n in (1, 2):
                plain.append(EngineSystem(f"loop-{n}", settings, []))
            for future in [system.submit(sample) for system in plain]:
                future.result()  # each has seen its pages once, as a standing worker has
        with (standing_prefect_server(work / "prefect-home") as server,
              standing_dask_cluster(cpus[1], server.env, work / "prefect-home") as one,
              standing_dask_cluster(cpus[2], server.env, work / "prefect-home",
                                    workers=2) as two):
            address = {1: one, 2: two}

            def flow(workers: int, source: Path = folder, batch: int = batch_pages) -> Run:
                lake = work / f"lake-flow-scaling-{workers}"
                shutil.rmtree(lake, ignore_errors=True)
                return run_flow(source, lake, workers, batch_pages=batch, env=server.env,
                                cpus=cpus[workers], dask_address=address[workers])

            for workers in (1, 2):  # batches of 2 pages, so that each of two workers gets one
                flow(workers, warm, 2)
            one_run, alone = flow(1), host(1)
            for i in range(pairs):
                two_run, both = flow(2), host(2)
                one_before, alone_before = one_run, alone
                one_run, alone = flow(1), host(1)
                ceiling = ((*alone_before, *alone), both) if plain else None
                out.append(scaling_pair((one_before, one_run), two_run, ceiling))
                log(f"scaling pair {i + 1}/{pairs}: " + ", ".join(
                    f"{k} {v}" for k, v in out[-1].items()))
    finally:
        for system in plain:
            system.close()
    return out


def _first_page(doc: BenchDoc) -> BenchDoc:
    return replace(doc, truths=doc.truths[:1])


def comparisons(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ratios the benchmark exists for, from rows of the same run."""
    by = {(r["system"], r["set"]): r for r in rows}
    out: dict[str, Any] = {}

    def get(system: str, dataset: str, key: str) -> Any:
        row = by.get((system, dataset))
        return None if row is None else row.get(key)

    for dataset in ("funsd", "synth"):
        eng, prev, tess = (get(s, dataset, "cpu_s_per_page")
                           for s in ("engine", "previous", "tesseract"))
        if eng and tess:
            out[f"{dataset}_engine_vs_tesseract_cpu"] = round(eng / tess, 3)
        if eng and prev:
            out[f"{dataset}_engine_vs_previous_cpu"] = round(eng / prev, 3)
            out[f"{dataset}_hmean_change"] = _delta(get("engine", dataset, "hmean"),
                                                    get("previous", dataset, "hmean"))
            out[f"{dataset}_e2e_cer_change"] = _delta(get("engine", dataset, "e2e_cer"),
                                                      get("previous", dataset, "e2e_cer"))
        trained = get(TRAINED, dataset, "cpu_s_per_page")
        if trained and eng:
            out[f"{dataset}_trained_vs_engine_cpu"] = round(trained / eng, 3)
            out[f"{dataset}_trained_hmean_change"] = _delta(get(TRAINED, dataset, "hmean"),
                                                            get("engine", dataset, "hmean"))
            out[f"{dataset}_trained_e2e_cer_change"] = _delta(
                get(TRAINED, dataset, "e2e_cer"), get("engine", dataset, "e2e_cer"))
        if trained and tess:
            out[f"{dataset}_trained_vs_tesseract_cpu"] = round(trained / tess, 3)
    one, two = by.get(("flow-1", "synth")), by.get(("flow-2", "synth"))
    if one and two and one["pages_per_s"] and two["pages_per_s"]:
        out["flow_2_vs_1_workers_pages_per_s"] = round(two["pages_per_s"] / one["pages_per_s"], 3)
        if one.get("batch_seconds") and two.get("batch_seconds"):
            # the batches alone (each worker's seconds per page), without the command's start
            # and end, which a backfill of millions of pages pays once
            out["flow_2_vs_1_workers_in_batches"] = in_batches_ratio(
                one["batch_seconds"] / one["pages"], two["batch_seconds"] / two["pages"])
    eng = by.get(("engine", "synth"))
    if one and eng and eng["pages_per_s"] and one["pages_per_s"]:
        # what a worker does besides orchestration: rasterize, OCR, write the rows
        work = eng["cpu_s_per_page"] + (eng.get("stage_cpu_s", {}).get("write") or 0.0)
        out["flow_1_overhead_wall"] = round(eng["pages_per_s"] / one["pages_per_s"] - 1, 3)
        out["flow_1_overhead_cpu"] = round(one["worker_cpu_s_per_page"] / work - 1, 3)
        out["flow_1_overhead_cpu_all_processes"] = round(one["cpu_s_per_page"] / work - 1, 3)
        if eng.get("load_cpu_s") is not None:
            # the worker's one-off engine load (measured in the engine's own process) taken
            # out: the overhead a long run tends to
            steady = one["worker_cpu_s_per_page"] - eng["load_cpu_s"] / max(1, one["pages"])
            out["flow_1_overhead_cpu_without_engine_load"] = round(steady / work - 1, 3)
        if one.get("batch_seconds"):
            # inside the batches only (read, OCR, canaries, quality, rows; the first batch
            # also loads the engine): wall seconds per page against the engine loop's
            in_batches = one["batch_seconds"] / max(1, one["pages"])
            out["flow_1_overhead_in_batches_wall"] = round(
                in_batches * eng["pages_per_s"] - 1, 3)
    return out


def in_batches_ratio(one_s_per_page: float, two_s_per_page: float) -> float:
    """Two workers' pages/s over one's inside the batches, from each run's batch seconds
    per page (summed over its workers): both workers busy from the first batch to the last,
    as in a backfill of millions of pages, which pays the command's start and end once."""
    return round(2 * one_s_per_page / two_s_per_page, 3)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)

