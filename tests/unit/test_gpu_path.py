"""The GPU path's logic, tested on CPU: detection batched across pages padded to a common
size, the bounded prefetch queue, one Dask worker per GPU."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ocr_tasks.core.config import EngineSettings
from ocr_tasks.core.prefetch import prefetch
from ocr_tasks.engine import postprocess as post
from ocr_tasks.engine import preprocess as pre
from ocr_tasks.engine.predictor import OcrEngine
from ocr_tasks.page_image import PageImage
from ocr_tasks.pipeline.batch import worker_device
from tests.unit.test_engine import render


def test_det_batch_of_one_is_the_single_page_input() -> None:
    image, _ = render()
    batch, sizes = post.det_batch([image])
    np.testing.assert_array_equal(batch[0], post.normalize(pre.pad_to_multiple(image)))
    assert sizes == [image.shape[:2]]


def test_det_batch_pads_pages_of_different_sizes_with_white() -> None:
    small, _ = render(size=(500, 200))
    large, _ = render(size=(820, 330))
    batch, sizes = post.det_batch([small, large])
    assert batch.shape == (2, 3, 352, 832) and sizes == [(200, 500), (330, 820)]
    np.testing.assert_array_equal(batch[0, :, :200, :500], post.normalize(small))
    assert (batch[0, :, 200:, :] == 1.0).all() and (batch[0, :, :, 500:] == 1.0).all()


def test_size_groups_batch_only_equal_detector_inputs() -> None:
    a4, letter = (2339, 1654), (2200, 1700)
    assert post.size_groups([a4, a4, letter, a4, a4], 0.8, 3) == [[0, 1, 3], [2], [4]]
    assert post.size_groups([a4, (2330, 1650)], 0.8, 8) == [[0, 1]]  # same input once padded
    assert post.size_groups([a4, a4], 1.0, 1) == [[0], [1]]


def test_batched_detection_finds_the_same_boxes_as_page_at_a_time() -> None:
    """Pages of a scan job (equal sizes) detected in one call read and box exactly like the
    same pages detected one by one; a page of another size gets its own call."""
    pages = [render(lines, size)[0] for lines, size in [
        (["Policy number 4711", "Claim settled in full"], (820, 330)),
        (["Invoice dated 12 March", "Total amount due 1250.00 EUR", "Thank you"], (820, 330)),
        (["Signed"], (300, 120)),
    ]]
    inputs = [PageImage(image, index=i, dpi=200) for i, image in enumerate(pages)]
    one = OcrEngine(EngineSettings(backend="onnx", det_batch_pages=1))
    many = OcrEngine(EngineSettings(backend="onnx", det_batch_pages=8), backend=one.backend)
    calls: list[int] = []
    det = one.backend.det
    one.backend.det = lambda b: (calls.append(len(b)) or det(b))  # type: ignore[method-assign]
    a = one.recognize_pages(inputs)
    single_calls, calls[:] = list(calls), []
    b = many.recognize_pages(inputs)
    assert single_calls == [1, 1, 1] and calls == [2, 1]
    for pa, pb in zip(a, b, strict=True):
        assert [line.text for line in pa.lines] == [line.text for line in pb.lines]
        assert [line.polygon for line in pa.lines] == [line.polygon for line in pb.lines]


def test_prefetch_keeps_order_and_stays_bounded() -> None:
    produced: list[int] = []
    ahead: list[int] = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    out = []
    for value in prefetch(items(), depth=3):
        time.sleep(0.002)  # a slow consumer: the producer must wait, not run ahead
        ahead.append(len(produced) - len(out))
        out.append(value)
    assert out == list(range(50))
    assert max(ahead) <= 3 + 2  # the queue, the item being put, the item handed over


def test_prefetch_raises_the_producers_error_in_place() -> None:
    def items():
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for value in prefetch(items(), depth=2):
            got.append(value)
    assert got == [1, 2]


def test_prefetch_stops_the_producer_when_closed_early() -> None:
    produced = threading.Event()
    count = []

    def items():
        for i in range(10_000):
            count.append(i)
            produced.set()
            yield i

    it = prefetch(items(), depth=2)
    assert next(it) == 0
    it.close()  # joins the producer thread
    settled = len(count)
    time.sleep(0.05)
    assert len(count) == settled < 10


def test_prefetch_depth_zero_runs_in_the_callers_thread() -> None:
    seen = []

    def items():
        seen.append(threading.current_thread())
        yield 1

    assert list(prefetch(items(), depth=0)) == [1]
    assert seen == [threading.current_thread()]


def test_engine_batch_sizes_follow_the_resolved_device() -> None:
    settings = EngineSettings(backend="onnx", pages_per_call=4, pages_per_call_gpu=16,
                              det_batch_pages_gpu=8, prefetch_pages_gpu=16)
    cpu = OcrEngine(settings)
    assert (cpu.pages_per_call, cpu.det_batch_pages, cpu.prefetch_pages) == (4, 1, 0)
    gpu = OcrEngine(settings, backend=cpu.backend)
    gpu.device = "cuda:0"  # what resolve_device says on a GPU host
    assert (gpu.pages_per_call, gpu.det_batch_pages, gpu.prefetch_pages) == (16, 8, 16)


def test_one_local_worker_per_gpu() -> None:
    from flows.runtime import local_cluster_kwargs

    cpu = local_cluster_kwargs(workers=3, gpus=0)
    assert cpu["n_workers"] == 3 and "resources" not in cpu
    gpu = local_cluster_kwargs(workers=3, gpus=2)
    assert gpu["n_workers"] == 2 and gpu["resources"] == {"GPU": 1}


def test_local_worker_n_runs_on_gpu_n() -> None:
    """In a real Dask worker named 1 on a host with two GPUs, 'cuda' becomes 'cuda:1';
    outside a worker, on one GPU, or with a CPU backend, settings stay as they are."""
    from distributed import Client, LocalCluster

    settings = EngineSettings(device="cuda")
    assert worker_device(settings, gpus=2) == settings  # not in a worker
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        names = sorted(client.scheduler_info()["workers"].values(), key=lambda w: w["name"])
        devices = [client.submit(worker_device, settings, 2, workers=[w["id"]], pure=False)
                   .result().device for w in names]
        one_gpu = client.submit(worker_device, settings, 1, pure=False).result()
        onnx = client.submit(worker_device, EngineSettings(backend="onnx"), 2,
                             pure=False).result()
    assert devices == ["cuda:0", "cuda:1"]
    assert one_gpu.device == "cuda" and onnx.device == "auto"



def test_benchmark_loop_on_a_gpu_engine_prefetches_and_reads_the_same(tmp_path) -> None:
    """The benchmark's engine loop as a CUDA engine runs it (pages rasterized ahead on a
    thread, detection batched): same words as the CPU loop, every page once, in order."""
    import cv2

    from ocr_tasks.benchmark.pageset import BenchDoc
    from ocr_tasks.benchmark.systems import engine_loop
    from ocr_tasks.truth import TruthPage

    docs = []
    for i, lines in enumerate([["Policy number 4711"], ["Claim settled", "in full"], ["Signed"]]):
        path = tmp_path / f"page{i}.png"
        cv2.imwrite(str(path), render(lines, (520, 60 + 70 * len(lines)))[0])
        docs.append(BenchDoc(path, "png", (TruthPage(),)))
    cpu = OcrEngine(EngineSettings(backend="onnx", pages_per_call=2, prefetch_pages_gpu=1,
                                   pages_per_call_gpu=2, det_batch_pages_gpu=2))
    gpu = OcrEngine(cpu.settings, backend=cpu.backend)
    gpu.device = "cuda:0"
    started: list[str] = []
    original = threading.Thread.start

    def spy(self: threading.Thread) -> None:
        started.append(self.name)
        original(self)

    threading.Thread.start = spy  # type: ignore[method-assign]
    try:
        on_gpu = engine_loop(gpu, docs, 200)
    finally:
        threading.Thread.start = original  # type: ignore[method-assign]
    on_cpu = engine_loop(cpu, docs, 200)
    assert "prefetch" in started
    assert [(r.doc, r.index) for r in on_gpu.results] == [(d.path.name, 0) for d in docs]
    assert [r.texts for r in on_gpu.results] == [r.texts for r in on_cpu.results]
    assert on_gpu.results[1].texts == ["Claim", "settled", "in", "full"]
