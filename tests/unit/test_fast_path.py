"""The fast CPU path's switches: backend choice and precision, detection at a smaller scale,
the classifier skip, canaries in proportion to the batch, and the benchmark's bookkeeping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ocr_tasks.benchmark.pageset import BenchDoc, funsd_docs
from ocr_tasks.benchmark.report import score, stage_seconds
from ocr_tasks.benchmark.runner import chunks, comparisons
from ocr_tasks.benchmark.systems import PageResult
from ocr_tasks.core.config import EngineSettings, PipelineSettings
from ocr_tasks.datasets import import_funsd, split_of
from ocr_tasks.engine import backends
from ocr_tasks.engine import postprocess as post
from ocr_tasks.engine import preprocess as pre
from ocr_tasks.engine.predictor import OcrEngine, get_engine, upright_sure
from ocr_tasks.engine.static_shapes import StaticShapes
from ocr_tasks.page_image import PageImage
from ocr_tasks.quality.canaries import allot_canaries, canary_count, canary_seeds
from ocr_tasks.truth import TruthPage, TruthSegment, TruthWord
from tests.unit.test_engine import LINES, assert_reads, render


def test_openvino_precision_follows_cpu_flags() -> None:
    assert backends.openvino_precision("auto", frozenset({"avx2", "avx512_bf16"})) == "bf16"
    assert backends.openvino_precision("auto", frozenset({"amx_bf16"})) == "bf16"
    assert backends.openvino_precision("auto", frozenset({"avx2", "avx512f"})) == "f32"
    assert backends.openvino_precision("f32", frozenset({"avx512_bf16"})) == "f32"
    assert backends.openvino_precision("bf16", frozenset()) == "bf16"


def test_cpu_backends_resolve_to_cpu() -> None:
    for name in ("openvino", "onnx"):
        assert backends.resolve_device(EngineSettings(backend=name, device="cuda")) == "cpu"


@pytest.fixture(scope="module")
def openvino_engine() -> OcrEngine:
    return get_engine(EngineSettings(backend="openvino", threads=1))


def test_openvino_backend_agrees_with_onnx(openvino_engine: OcrEngine) -> None:
    """Same ONNX files, another runtime: probabilities agree (bf16 within its precision)."""
    onnx = get_engine(EngineSettings(backend="onnx", threads=1)).backend
    image, _ = render()
    batch = post.normalize(pre.pad_to_multiple(image))[None]
    a, b = onnx.det(batch), openvino_engine.backend.det(batch)
    assert a.shape == b.shape
    tolerance = 0.1 if getattr(openvino_engine.backend, "precision", "") == "bf16" else 1e-3
    assert float(np.abs(a - b).mean()) < tolerance / 10
    assert float(np.abs(a - b).max()) < tolerance * 5
    two = np.concatenate([batch, batch[:, :, ::-1].copy()])
    out = openvino_engine.backend.det(two)  # the returned array is ours, not the runtime's
    assert not np.shares_memory(out, openvino_engine.backend.det(batch))


def test_fixed_shape_compilations_are_kept_for_the_shapes_in_use() -> None:
    made: list[tuple[int, ...]] = []

    def compile(shape: tuple[int, ...]) -> str:
        made.append(shape)
        return f"model{shape}"

    shapes = StaticShapes(compile, capacity=2, idle_calls=3)
    a, b, c = (1, 3, 32, 32), (1, 3, 32, 64), (1, 3, 64, 64)
    assert shapes.get(a) == f"model{a}" and shapes.get(a) == f"model{a}"
    assert shapes.get(b) == f"model{b}"
    assert shapes.get(c) is None  # both kept shapes were used within 3 calls
    assert made == [a, b]
    shapes.get(b)
    shapes.get(b)
    assert shapes.get(c) == f"model{c}"  # a went unused for 4 calls: replaced
    assert shapes.shapes == [b, c] and made == [a, b, c] and shapes.compilations == 3
    assert StaticShapes(compile, capacity=0).get(a) is None


def test_a_shape_that_fails_to_compile_runs_on_the_any_size_model_without_retrying() -> None:
    made: list[tuple[int, ...]] = []
    big = (1, 3, 4096, 4096)

    def compile(shape: tuple[int, ...]) -> str:
        made.append(shape)
        if shape == big:
            raise RuntimeError("cannot allocate memory for the compiled network")
        return f"model{shape}"

    shapes = StaticShapes(compile, capacity=2)
    assert shapes.get(big) is None and shapes.get(big) is None
    assert made == [big] and shapes.failed == {big}  # tried once, not on every page
    small = (1, 3, 32, 32)
    assert shapes.get(small) == f"model{small}"  # its slot was not taken by the failure
    assert shapes.shapes == [small] and shapes.compilations == 1


def test_failed_shapes_are_remembered_up_to_a_bound_oldest_forgotten_first() -> None:
    made: list[tuple[int, ...]] = []

    def compile(shape: tuple[int, ...]) -> str:
        made.append(shape)
        raise RuntimeError("refused")

    shapes = StaticShapes(compile, capacity=2, remember_failed=3)
    sizes = [(1, 3, 32 * i, 32) for i in range(1, 6)]
    for shape in sizes:
        assert shapes.get(shape) is None
    assert shapes.failed == set(sizes[2:])  # five failures, three remembered
    assert shapes.get(sizes[4]) is None and made == sizes  # a remembered one is not retried
    assert shapes.get(sizes[0]) is None and made == [*sizes, sizes[0]]  # a forgotten one is


def test_openvino_fixed_shape_detector_agrees_with_the_any_size_model() -> None:
    paths = backends.exported_onnx_paths("latin")
    fixed = backends.OpenVinoBackend(paths, static_shapes=1)
    dynamic = backends.OpenVinoBackend(paths, static_shapes=0)
    image, _ = render()
    page = post.normalize(pre.pad_to_multiple(image))[None]
    half = post.normalize(pre.pad_to_multiple(pre.resize(image, 0.5)[0]))[None]
    tolerance = 0.1 if fixed.precision == "bf16" else 1e-3
    for batch in (page, half, page):
        a, b = dynamic.det(batch), fixed.det(batch)
        assert a.shape == b.shape
        assert float(np.abs(a - b).mean()) < tolerance / 10
    assert fixed.det_shapes.shapes == [page.shape]  # the half page ran the any-size model
    assert dynamic.det_shapes.shapes == []


def test_openvino_engine_reads_words(openvino_engine: OcrEngine) -> None:
    image, truth = render()
    (page,) = openvino_engine.recognize_pages([PageImage(image, index=0, dpi=200)])
    assert [line.text for line in page.lines] == LINES
    assert_reads(page, truth)


def test_openvino_recognizer_sees_only_ladder_widths_and_reads_the_same() -> None:
    """OpenVINO compiles kernels per input shape: its recognizer batches are padded to the
    ladder's widths, and the padding changes no text against onnxruntime's tight batches."""
    ov = get_engine(EngineSettings(backend="openvino", threads=1))
    onnx = get_engine(EngineSettings(backend="onnx", threads=1))
    assert ov.backend.rec_width_ladder and not onnx.backend.rec_width_ladder
    image, _ = render()
    seen: list[int] = []
    run = ov.backend._run

    def recorded(kind: str, batch: np.ndarray) -> np.ndarray:
        if kind == "rec":
            seen.append(batch.shape[3])
        return run(kind, batch)

    ov.backend._run = recorded  # type: ignore[method-assign]
    try:
        (a,) = ov.recognize_pages([PageImage(image, index=0, dpi=200)])
    finally:
        del ov.backend._run
    (b,) = onnx.recognize_pages([PageImage(image, index=0, dpi=200)])
    assert seen and set(seen) <= set(post.REC_WIDTH_LADDER)
    assert [line.text for line in a.lines] == [line.text for line in b.lines] == LINES


def test_detection_scale_keeps_boxes_in_the_page_frame() -> None:
    """Detected on a 0.6 copy, the quads still frame the words of the full page."""
    image, truth = render()
    engine = get_engine(EngineSettings(backend="onnx", det_scale=0.6, unclip_ratio=1.5))
    (page,) = engine.recognize_pages([PageImage(image, index=0, dpi=200)])
    assert [line.text for line in page.lines] == LINES
    assert_reads(page, truth)


def test_scale_quads_maps_and_clips() -> None:
    quad = np.array([[10, 10], [50, 10], [50, 20], [10, 20]], dtype=np.float32)
    back = np.diag([2.0, 2.0, 1.0])
    (mapped,) = post.scale_quads([quad], back, width=90, height=100)
    assert mapped.tolist() == [[20, 20], [90, 20], [90, 40], [20, 40]]  # x clipped at 90
    assert post.scale_quads([quad], np.eye(3), 10, 10)[0] is quad  # no copy at scale 1


def test_normalize_is_one_contiguous_float_array() -> None:
    image = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    out = post.normalize(image)
    assert out.flags["C_CONTIGUOUS"] and out.dtype == np.float32 and out.shape == (3, 7, 9)
    np.testing.assert_allclose(out, image.transpose(2, 0, 1) / 127.5 - 1.0, atol=1e-6)


def test_upright_sure_needs_a_confident_vote_of_enough_lines() -> None:
    assert upright_sure(0.02, 10, 0.1)
    assert upright_sure(0.97, 10, 0.1)  # the page was turned: upright now
    assert not upright_sure(0.3, 10, 0.1)
    assert not upright_sure(0.02, 3, 0.1)  # too few voters
    assert not upright_sure(0.0, 10, 0.0)  # switched off


def test_classifier_skip_runs_the_line_classifier_only_where_unsure() -> None:
    """An upright page skips the per-line classifier; switched off, every line is classified:
    the text is the same either way."""
    image, _ = render()
    pages = []
    for margin in (0.1, 0.0):
        engine = OcrEngine(EngineSettings(backend="onnx", skip_line_classifier_below=margin))
        calls: list[int] = []
        cls = engine.backend.cls
        engine.backend.cls = lambda batch, cls=cls, calls=calls: (  # type: ignore[method-assign]
            calls.append(len(batch)) or cls(batch))
        (page,) = engine.recognize_pages([PageImage(image, index=0, dpi=200)])
        pages.append((page, calls))
    (skipped, skip_calls), (full, full_calls) = pages
    assert skipped.text == full.text
    assert len(skip_calls) == 1  # the orientation vote only
    assert len(full_calls) > 1 and sum(full_calls) > sum(skip_calls)


@pytest.mark.parametrize(("pages", "expected"), [(0, 1), (1, 1), (32, 1), (33, 2), (64, 2),
                                                  (500, 2), (None, 2)])
def test_canaries_scale_with_the_batch(pages: int | None, expected: int) -> None:
    settings = PipelineSettings(canary_pages=2, canary_every_pages=32)
    assert canary_count(pages, settings) == expected
    assert canary_seeds("b1", settings, pages) == canary_seeds("b1", settings)[:expected]
    assert canary_count(10, PipelineSettings(canary_pages=0)) == 0


@pytest.mark.parametrize(("batches", "expected"), [
    ([8] * 8, [1, 1, 0, 0, 0, 0, 0, 0]),  # a 64-page drop cut for 8 workers: 2, not 8
    ([64, 64, 30], [2, 2, 1]),  # production-size batches: what each gets alone
    ([40, 40, 40], [2, 1, 1]),  # 120 pages: 4 (alone each would take 2)
    ([13], [1]),  # at least one per wave
    ([500], [2]),  # at most canary_pages per batch
    ([], []),
])
def test_a_waves_canaries_are_proportional_to_its_pages(batches: list[int],
                                                        expected: list[int]) -> None:
    settings = PipelineSettings(canary_pages=2, canary_every_pages=32)
    assert allot_canaries(batches, settings) == expected
    assert allot_canaries(batches, PipelineSettings(canary_pages=0)) == [0] * len(batches)
    # the plan's number wins unless the batch's own pages call for fewer
    assert len(canary_seeds("b1", settings, 64, allotted=1)) == 1
    assert len(canary_seeds("b1", settings, 8, allotted=2)) == 1


def _doc(name: str, pages: int) -> BenchDoc:
    box = (10.0, 10.0, 60.0, 30.0)
    word = TruthSegment("total", box, (TruthWord("total", box),))
    return BenchDoc(Path(name), "png", tuple(TruthPage(segments=(word,)) for _ in range(pages)))


def test_benchmark_chunks_scores_and_stage_means() -> None:
    docs = [_doc("a.pdf", 3), _doc("b.png", 1), _doc("c.pdf", 3), _doc("d.png", 1)]
    assert [[d.path.name for d in c] for c in chunks(docs, 4)] == [["a.pdf", "b.png"],
                                                                   ["c.pdf", "d.png"]]
    exact = [PageResult("a.pdf", i, [(10, 10, 60, 30)], ["total"], [0.9],
                        {"detect_cpu": 0.2, "detect": 0.3}) for i in range(3)]
    typo = [PageResult("a.pdf", i, [(10, 10, 60, 30)], ["tota1"], [0.9]) for i in range(3)]
    assert score(docs[:1], exact)["e2e_cer"] == 0.0 and score(docs[:1], exact)["hmean"] == 1.0
    assert score(docs[:1], typo)["e2e_cer"] == pytest.approx(0.2)
    missing = score(docs[:1], exact[:1])
    assert missing["missing_pages"] == 2 and missing["hmean"] < 1.0
    assert stage_seconds(exact)["detect"] == pytest.approx(0.2)
    assert stage_seconds(exact, "")["detect"] == pytest.approx(0.3)
    assert stage_seconds(exact)["recognize"] is None


def test_comparisons_are_ratios_of_the_same_run() -> None:
    rows = [
        {"system": "engine", "set": "funsd", "cpu_s_per_page": 0.6, "hmean": 0.91,
         "e2e_cer": 0.07, "pages_per_s": 1.0},
        {"system": "previous", "set": "funsd", "cpu_s_per_page": 1.2, "hmean": 0.915,
         "e2e_cer": 0.075, "pages_per_s": 0.5},
        {"system": "tesseract", "set": "funsd", "cpu_s_per_page": 0.4, "pages_per_s": 2.0},
        {"system": "engine", "set": "synth", "cpu_s_per_page": 0.5, "pages_per_s": 2.0},
        {"system": "flow-1", "set": "synth", "cpu_s_per_page": 0.7, "pages_per_s": 1.6,
         "worker_cpu_s_per_page": 0.55, "pages": 100, "batch_seconds": 60.0},
        {"system": "flow-2", "set": "synth", "cpu_s_per_page": 0.7, "pages_per_s": 3.0,
         "pages": 100, "batch_seconds": 64.0},
    ]
    c = comparisons(rows)
    assert c["funsd_engine_vs_tesseract_cpu"] == 1.5
    assert c["funsd_engine_vs_previous_cpu"] == 0.5
    assert c["funsd_hmean_change"] == pytest.approx(-0.005)
    assert c["flow_2_vs_1_workers_pages_per_s"] == 1.875
    assert c["flow_2_vs_1_workers_in_batches"] == 1.875  # 0.6 s a page against 0.64 / 2
    assert c["flow_1_overhead_wall"] == 0.25 and c["flow_1_overhead_cpu"] == 0.1


def test_scaling_pairs_compare_two_workers_with_the_one_worker_flows_around_them() -> None:
    from ocr_tasks.benchmark.runner import scaling_medians, scaling_pair
    from ocr_tasks.benchmark.systems import Run

    def flow(wall_s: float, batch_s: float) -> Run:  # 100 pages
        return Run(pages=100, wall_s=wall_s, extra={"batch_seconds": batch_s})

    # one worker: 190 s in its batches (1.9 s a page); two: 105 s each, 2.1 s a page
    pair = scaling_pair((flow(200.0, 190.0), flow(200.0, 190.0)), flow(110.0, 210.0))
    assert pair == pytest.approx({"pages_per_s_1": 0.5, "pages_per_s_2": 0.9091,
                                  "command": 1.818, "batches": 1.81,
                                  "worker_s_per_page_1": 1.9, "worker_s_per_page_2": 2.1})
    # the host slowed down steadily by a fifth across a pair: the one-worker flows on
    # either side (1.8 and 2.2 s a page) average to the speed the two-worker flow met
    drifting = scaling_pair((flow(190.0, 180.0), flow(230.0, 220.0)), flow(110.0, 210.0))
    assert drifting["batches"] == pytest.approx(1.905)
    assert drifting["worker_s_per_page_1"] == pytest.approx(2.0)
    # the host slowed down by a fifth during the second pair: its ratios stay near the first
    pairs = [pair, scaling_pair((flow(240.0, 228.0),) * 2, flow(132.0, 252.0)),
             scaling_pair((flow(200.0, 190.0),) * 2, flow(150.0, 280.0))]
    medians = scaling_medians(pairs)
    assert medians["flow_2_vs_1_scaling_pairs"] == 3
    assert medians["flow_2_vs_1_workers_median_command"] == pytest.approx(1.818)
    assert medians["flow_2_vs_1_workers_median_batches"] == pytest.approx(1.81)
    assert "flow_2_vs_1_median_host" not in medians
    assert scaling_medians([]) == {}


def test_scaling_pairs_read_the_flow_against_the_hosts_own_ceiling() -> None:
    from ocr_tasks.benchmark.runner import scaling_medians, scaling_pair
    from ocr_tasks.benchmark.systems import Run

    def flow(wall_s: float, batch_s: float) -> Run:  # 100 pages
        return Run(pages=100, wall_s=wall_s, extra={"batch_seconds": batch_s})

    def loop(wall_s: float) -> Run:  # 10 pages
        return Run(pages=10, wall_s=wall_s)

    # alone 1.0 s a page; two processes at once 1.25 s a page each: the host gives 1.6x,
    # and the flow's 1.52x inside the batches keeps 95 % of it
    ceiling = ((loop(9.0), loop(11.0)), (loop(12.0), loop(13.0)))
    pair = scaling_pair((flow(200.0, 190.0),) * 2, flow(130.0, 250.0), ceiling)
    assert pair["batches"] == pytest.approx(1.52)
    assert pair["host"] == pytest.approx(1.6)
    assert pair["loop_s_per_page_1"] == pytest.approx(1.0)
    assert pair["loop_s_per_page_2"] == pytest.approx(1.25)
    assert pair["share_of_host"] == pytest.approx(0.95)
    other = scaling_pair((flow(200.0, 190.0),) * 2, flow(110.0, 200.0),
                         ((loop(10.0),) * 2, (loop(10.0),) * 2))
    assert other["host"] == pytest.approx(2.0) and other["share_of_host"] == pytest.approx(0.95)
    medians = scaling_medians([pair, other, pair])
    assert medians["flow_2_vs_1_median_host"] == pytest.approx(1.6)
    assert medians["flow_2_vs_1_median_share_of_host"] == pytest.approx(0.95)


def test_flow_overhead_pairs_compare_each_flow_with_the_loops_around_it() -> None:
    from ocr_tasks.benchmark.runner import overhead_medians, overhead_pair
    from ocr_tasks.benchmark.systems import PageResult, Run

    def loop(wall_s: float) -> Run:  # 10 pages, 0.1 s of row writes between them
        results = [PageResult("d", i, [], [], [], {"write": 0.01}) for i in range(10)]
        return Run(pages=10, wall_s=wall_s, results=results)

    def flow(wall_s: float, batch_s: float) -> Run:
        return Run(pages=10, wall_s=wall_s, extra={"batch_seconds": batch_s, "canary_pages": 1})

    # the host slowed down by half between the pairs: the ratios stay where they were
    pairs = [overhead_pair((loop(9.9), loop(9.9)), flow(15.0, 12.0)),
             overhead_pair((loop(14.9), loop(14.9)), flow(22.5, 18.0)),
             overhead_pair((loop(9.9), loop(9.9)), flow(20.0, 15.0))]
    assert pairs[0] == pytest.approx({"engine_s_per_page": 1.0, "flow_s_per_page": 1.5,
                                      "command": 0.5, "batches": 0.2, "fixed_s": 3.0,
                                      "canary_pages": 1})
    assert pairs[1]["batches"] == pytest.approx(0.2) and pairs[1]["command"] == pytest.approx(0.5)
    # a steady drift across one pair (0.8 s a page before the flow, 1.2 after): the flow
    # is read against the 1.0 it met, not against either neighbour alone
    drifting = overhead_pair((loop(7.9), loop(11.9)), flow(15.0, 12.0))
    assert drifting["engine_s_per_page"] == pytest.approx(1.0)
    assert drifting["batches"] == pytest.approx(0.2)
    medians = overhead_medians(pairs)
    assert medians["flow_1_overhead_pairs"] == 3
    assert medians["flow_1_overhead_median_batches"] == pytest.approx(0.2)  # not the outlier
    assert medians["flow_1_overhead_median_command"] == pytest.approx(0.5)
    assert medians["flow_1_fixed_s_median"] == pytest.approx(4.5)
    # the fresh worker's pair (engine load, first compilations) is reported, not in the median
    cold = {**overhead_pair((loop(9.9),) * 2, flow(30.0, 16.0)), "cold": True}
    medians = overhead_medians([cold, *pairs])
    assert medians["flow_1_overhead_pairs"] == 3
    assert medians["flow_1_overhead_median_batches"] == pytest.approx(0.2)
    assert medians["flow_1_overhead_cold_batches"] == pytest.approx(0.6)
    assert medians["flow_1_overhead_cold_command"] == pytest.approx(2.0)
    assert overhead_medians([]) == {}


def test_side_by_side_compares_cpu_per_page_over_the_loop_calls_inside_the_flow() -> None:
    from ocr_tasks.benchmark.runner import LoopChunk, overhead_medians, side_by_side

    # the loop's calls (ended, wall, cpu, pages); the flow ran from t=10 to t=40
    chunks = [LoopChunk(11.0, 3.0, 1.0, 1),    # began before the flow: left out
              LoopChunk(16.0, 5.0, 2.0, 2),    # 1.0 CPU s a page
              LoopChunk(25.0, 8.0, 3.0, 2),    # the host slowed: 1.5 a page
              LoopChunk(41.0, 6.0, 2.0, 1)]    # ended after the flow: left out
    got = side_by_side(chunks, 10.0, 40.0, pages=10, worker_cpu_s=15.0, flow_cpu_s=18.0)
    assert got == pytest.approx({"engine_cpu_s_per_page": 1.25, "worker_cpu_s_per_page": 1.5,
                                 "worker": 0.2, "flow": 0.44, "loop_pages": 4,
                                 "side_by_side": True})
    with pytest.raises(ValueError, match="no loop call"):
        side_by_side(chunks[:1], 10.0, 40.0, pages=10, worker_cpu_s=15.0, flow_cpu_s=18.0)
    runs = [got, {**got, "worker": 0.05, "flow": 0.3}, {**got, "worker": 0.1, "flow": 0.35}]
    medians = overhead_medians(runs)
    assert medians == {"flow_1_overhead_side_by_side_runs": 3,
                       "flow_1_overhead_side_by_side_cpu_worker": pytest.approx(0.1),
                       "flow_1_overhead_side_by_side_cpu_flow": pytest.approx(0.35)}


def test_a_trained_model_is_compared_with_the_engine_and_tesseract() -> None:
    rows = [
        {"system": "engine", "set": "funsd", "cpu_s_per_page": 1.2, "hmean": 0.91,
         "e2e_cer": 0.08, "pages_per_s": 1.0},
        {"system": "trained", "set": "funsd", "cpu_s_per_page": 0.6, "hmean": 0.905,
         "e2e_cer": 0.083, "pages_per_s": 2.0},
        {"system": "tesseract", "set": "funsd", "cpu_s_per_page": 0.4, "pages_per_s": 2.0},
    ]
    c = comparisons(rows)
    assert c["funsd_trained_vs_engine_cpu"] == 0.5 and c["funsd_trained_vs_tesseract_cpu"] == 1.5
    assert c["funsd_trained_e2e_cer_change"] == pytest.approx(0.003)
    assert c["funsd_trained_hmean_change"] == pytest.approx(-0.005)


def test_funsd_pages_of_one_split_are_those_training_puts_there(tmp_path: Path) -> None:
    fractions = (0.5, 0.5, 0.0)
    form = {"form": [{"box": [4, 4, 30, 12], "text": "Date", "label": "question", "id": 0,
                      "words": [{"box": [4, 4, 30, 12], "text": "Date"}], "linking": []}]}
    for i in range(12):
        (tmp_path / "annotations").mkdir(exist_ok=True)
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "annotations" / f"p{i}.json").write_text(json.dumps(form))
        pixels = np.full((16, 40), 255, np.uint8)
        pixels[0, i] = 0  # unique bytes: a document identity of its own
        cv2.imwrite(str(tmp_path / "images" / f"p{i}.png"), pixels)
    pages, _ = import_funsd(tmp_path)
    val = sorted(p.image for p in pages if split_of(p.document, fractions) == "val")
    assert 0 < len(val) < 12
    chosen = funsd_docs(tmp_path, split="val", fractions=fractions)
    assert sorted(str(d.path) for d in chosen) == val
    assert len(funsd_docs(tmp_path, limit=2, split="val", fractions=fractions)) == 2
    assert len(funsd_docs(tmp_path)) == 12


def test_auto_prefers_openvino_only_where_it_runs_bf16() -> None:
    bf16, plain = frozenset({"avx512_bf16"}), frozenset({"avx2"})
    assert backends.openvino_preferred(EngineSettings(), bf16)
    assert not backends.openvino_preferred(EngineSettings(), plain)  # f32: onnx is faster
    assert not backends.openvino_preferred(EngineSettings(openvino_precision="f32"), bf16)


def test_written_pages_read_back_from_the_lake(tmp_path: Path) -> None:
    """The engine systems' write stage and the flows' read-back meet in the same tables."""
    from ocr_tasks.benchmark.systems import lake_results, write_pages
    from ocr_tasks.document import Line, Page, Word, box_polygon
    from ocr_tasks.lake.tables import Lake

    words = (Word("Policy", 0.9, box_polygon((10, 10, 60, 30))),
             Word("4711", 0.8, box_polygon((70, 10, 110, 30))))
    line = Line("Policy 4711", 0.85, box_polygon((10, 10, 110, 30)), words)
    page = Page(index=1, width=200, height=100, dpi=200, lines=(line,),
                timings={"detect": 0.25, "recognize": 0.5})
    doc = _doc("claim.pdf", 2)
    write_pages(Lake.open(str(tmp_path)), [(doc, page)], "v1")
    (read,) = lake_results(tmp_path, {"claim.pdf": "claim.pdf"})
    assert (read.doc, read.index, read.texts) == ("claim.pdf", 1, ["Policy", "4711"])
    assert read.boxes[1] == (70, 10, 110, 30)
    assert read.timings["detect"] == pytest.approx(0.25)


def test_box_assignment_matches_the_pairwise_rule() -> None:
    """The vectorized ``assign_by_boxes`` (sidecar scoring cost ~8 % of a batch's CPU as a
    loop over pairs) gives what the pairwise rule gives, ties and degenerate boxes included."""
    import random

    from ocr_tasks.evaluation import metrics as m

    def pairwise(gt, pred, min_overlap=m.MIN_OVERLAP):  # type: ignore[no-untyped-def]
        out = []
        for pbox in pred:
            best, best_inter = -1, 0.0
            for g, gbox in enumerate(gt if pbox is not None else []):
                inter = m.intersection(gbox, pbox)
                smaller = min(m.box_area(gbox), m.box_area(pbox))
                if inter > best_inter and smaller > 0 and inter / smaller >= min_overlap:
                    best, best_inter = g, inter
            out.append(best)
        return out

    rng = random.Random(1)

    def box() -> tuple[int, int, int, int]:
        x, y = rng.randint(0, 50), rng.randint(0, 50)
        return (x, y, x + rng.randint(-2, 20), y + rng.randint(-2, 10))

    for _ in range(500):
        gt = [box() for _ in range(rng.randint(0, 12))]
        pred = [None if rng.random() < 0.1 else box() for _ in range(rng.randint(0, 12))]
        assert m.assign_by_boxes(gt, pred) == pairwise(gt, pred)


def test_a_cpu_worker_reads_a_page_without_importing_torch() -> None:
    """torch costs a worker ~1.3 s CPU and ~180 MB: a CPU worker runs the cached ONNX exports
    through the batch module and never imports it (on a host without an NVIDIA driver)."""
    backends.exported_onnx_paths()  # the cache a worker finds (exported here, with torch)
    script = (
        "import sys\n"
        "import ocr_tasks.pipeline.batch\n"
        "from ocr_tasks.core.config import EngineSettings\n"
        "from ocr_tasks.engine.predictor import OcrEngine\n"
        "from ocr_tasks.page_image import PageImage\n"
        "from tests.unit.test_engine import LINES, render\n"
        "for backend in ('onnx', 'openvino'):\n"
        "    engine = OcrEngine(EngineSettings(backend=backend, device='cpu'))\n"
        "    (page,) = engine.recognize_pages([PageImage(render(LINES)[0])])\n"
        "    assert 'Invoice number' in page.text, page.text\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    if backends.NVIDIA_DRIVER.is_dir():
        pytest.skip("a GPU host: auto may pick torch")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_flows_are_measured_on_as_many_cores_as_workers() -> None:
    import os

    from ocr_tasks.benchmark.systems import flow_cores

    cpus = sorted(os.sched_getaffinity(0))
    assert flow_cores(1, matched=True) == cpus[:1]
    assert flow_cores(len(cpus), matched=True) == cpus
    assert flow_cores(len(cpus) + 1, matched=True) is None  # cannot match: all of them
    assert flow_cores(1, matched=False) is None
