"""Labelled datasets: one small file per importer (written here), malformed files reported by
name while the good ones import, stable splits, and the card.

Images are never decoded by the importers, only found and hashed, so a few unique bytes stand
in for each image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ocr_tasks.datasets import (
    SPLITS,
    Dataset,
    LabelledPage,
    Problem,
    build_card,
    import_audits,
    import_funsd,
    import_label_studio,
    import_paddle_det,
    import_paddle_rec,
    import_sidecars,
    import_via,
    import_vott,
    read_pages,
    split_of,
    write_dataset,
)
from ocr_tasks.io.storage import LocalStore
from ocr_tasks.io.storage import file_content_id as file_id
from ocr_tasks.truth import (
    AUDIT_PENDING,
    AUDIT_RETURNED,
    SIDECAR_PDF_DPI,
    TruthPage,
    TruthSegment,
    TruthWord,
)


def image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG stand-in " + path.name.encode())
    return path


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def boxed(page: LabelledPage) -> list[tuple[str, tuple[float, ...]]]:
    return [(w.text, tuple(w.box)) for w in page.truth.words]


def problem_files(problems: list[Any]) -> set[str]:
    return {Path(p.path).name for p in problems}


# --------------------------------------------------------------------------------- FUNSD


def test_funsd_folder_imports_pages_and_reports_bad_annotations(tmp_path: Path) -> None:
    root = tmp_path / "funsd"
    form = {"form": [{"box": [10, 20, 60, 40], "text": "Date:", "label": "question", "id": 0,
                      "words": [{"box": [10, 20, 60, 40], "text": "Date:"}], "linking": []},
                     {"box": [80, 20, 120, 70], "text": "", "label": "other", "id": 1,
                      "words": [{"box": [80, 20, 120, 70], "text": ""}], "linking": []}]}
    write_json(root / "annotations" / "a.json", form)
    image(root / "images" / "a.png")
    (root / "annotations" / "b.json").write_text('{"form": [{"text": "no box"}]}')
    image(root / "images" / "b.png")
    write_json(root / "annotations" / "c.json", form)  # no image

    pages, problems = import_funsd(root)
    (page,) = pages
    assert page.page_id == "funsd:a" and page.image == str(root / "images" / "a.png")
    assert boxed(page) == [("Date:", (10, 20, 60, 40)), ("", (80, 20, 120, 70))]
    assert [w.text for w in page.truth.dontcare_words] == [""]
    assert page.document == file_id(root / "images" / "a.png")
    assert problem_files(problems) == {"b.json", "c.json"}
    reasons = {Path(p.path).name: p.reason for p in problems}
    assert "missing 'box'" in reasons["b.json"] and "no image" in reasons["c.json"]
    assert import_funsd(tmp_path / "nowhere")[1][0].reason.endswith(
        "expected annotations/ and images/ in it")


# ----------------------------------------------------------------------------------- VIA


def via_project(root: Path) -> Path:
    image(root / "scan1.png")
    regions = [
        {"shape_attributes": {"name": "rect", "x": 10, "y": 20, "width": 100, "height": 30},
         "region_attributes": {"text": "Invoice"}},
        {"shape_attributes": {"name": "polygon", "all_points_x": [200, 260, 262, 198],
                              "all_points_y": [22, 20, 50, 52]},
         "region_attributes": {"text": "4711"}},
        {"shape_attributes": {"name": "circle", "cx": 5, "cy": 5, "r": 3},
         "region_attributes": {"text": "o"}},
    ]
    return write_json(root / "project.json", {
        "_via_settings": {"core": {"default_filepath": ""}},
        "_via_img_metadata": {"scan1.png1234": {"filename": "scan1.png", "size": 1234,
                                                "regions": regions, "file_attributes": {}}},
        "_via_attributes": {"region": {"text": {"type": "text"}}, "file": {}},
        "_via_data_format_version": "2.0.10", "_via_image_id_list": ["scan1.png1234"],
    })


def test_via_rects_and_polygons_become_boxes(tmp_path: Path) -> None:
    via_project(tmp_path / "via")
    (tmp_path / "via" / "broken.json").write_text("{not json")
    pages, problems = import_via(tmp_path / "via")
    (page,) = pages
    assert page.page_id == "via:scan1.png"
    assert boxed(page) == [("Invoice", (10, 20, 110, 50)), ("4711", (198, 20, 262, 52))]
    assert problem_files(problems) == {"project.json", "broken.json"}
    reasons = sorted(p.reason for p in problems)
    assert reasons[0].startswith("not JSON") and "unsupported region shape 'circle'" in reasons[1]


def test_via_annotation_export_and_other_text_attribute(tmp_path: Path) -> None:
    project = json.loads(via_project(tmp_path).read_text())["_via_img_metadata"]
    for meta in project.values():
        meta["regions"] = meta["regions"][:1]
        meta["regions"][0]["region_attributes"] = {"transcript": "Invoice"}
    export = write_json(tmp_path / "export" / "via_export_json.json", project)
    (page,), problems = import_via(export, image_root=tmp_path, text_attribute="transcript")
    assert not problems and boxed(page) == [("Invoice", (10, 20, 110, 50))]


# ---------------------------------------------------------------------------------- VoTT


def test_vott_export_tags_are_the_text(tmp_path: Path) -> None:
    out = tmp_path / "vott-json-export"
    image(out / "form.jpg")
    regions = [
        {"id": "r1", "type": "RECTANGLE", "tags": ["Total"],
         "boundingBox": {"left": 5, "top": 6, "width": 40, "height": 12},
         "points": [{"x": 5, "y": 6}, {"x": 45, "y": 6}, {"x": 45, "y": 18}, {"x": 5, "y": 18}]},
        {"id": "r2", "type": "POLYGON", "tags": ["42.00"],
         "boundingBox": {"left": 0, "top": 0, "width": 1, "height": 1},
         "points": [{"x": 60, "y": 5}, {"x": 90, "y": 7}, {"x": 88, "y": 20}, {"x": 61, "y": 19}]},
        {"id": "r3", "type": "RECTANGLE", "tags": [],
         "boundingBox": {"left": 100, "top": 0, "width": 20, "height": 20}},
    ]
    write_json(out / "claims-export.json", {
        "name": "claims", "version": "2.2.0", "tags": [{"name": "Total", "color": "#fff"}],
        "assets": {"a1": {"asset": {"id": "a1", "type": 1, "state": 2, "name": "form.jpg",
                                    "path": "file:C:/data/form.jpg", "format": "jpg",
                                    "size": {"width": 640, "height": 480}},
                          "regions": regions, "version": "2.2.0"}},
    })
    write_json(out / "broken-export.json", {"name": "no assets"})
    pages, problems = import_vott(out)
    (page,) = pages
    assert boxed(page) == [("Total", (5, 6, 45, 18)), ("42.00", (60, 5, 90, 20)),
                           ("", (100, 0, 120, 20))]
    assert (page.truth.width, page.truth.height) == (640, 480)
    assert problem_files(problems) == {"broken-export.json"}
    assert '"assets"' in problems[0].reason


# --------------------------------------------------------------------------- Label Studio


def ls_result(rid: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"original_width": 1000, "original_height": 500, "image_rotation": 0, "id": rid,
            "from_name": {"rectangle": "bbox", "polygon": "poly", "labels": "label",
                          "textarea": "transcription"}[kind],
            "to_name": "image", "type": kind, "origin": "manual", "value": value}


def test_label_studio_percentages_become_pixels(tmp_path: Path) -> None:
    image(tmp_path / "media" / "upload" / "3" / "1a2b3c-receipt.png")
    rect = {"x": 10, "y": 20, "width": 30, "height": 4, "rotation": 0}
    poly = {"points": [[50, 50], [60, 50], [60, 54], [50, 54]], "closed": True}
    turned = {"x": 80, "y": 10, "width": 5, "height": 10, "rotation": 90}
    result = [
        ls_result("r1", "rectangle", rect),
        ls_result("r1", "labels", {**rect, "labels": ["Text"]}),
        ls_result("r1", "textarea", {**rect, "text": ["TOTAL 42.00"]}),
        ls_result("p1", "polygon", poly),
        ls_result("p1", "textarea", {**poly, "text": ["EUR"]}),
        ls_result("t1", "rectangle", turned),
        ls_result("t1", "textarea", {**turned, "text": ["side"]}),
        ls_result("x1", "textarea", {"text": ["shapeless"]}),
    ]
    tasks = [
        {"id": 7, "data": {"ocr": "/data/upload/3/1a2b3c-receipt.png"},
         "annotations": [{"id": 1, "was_cancelled": True, "result": []},
                         {"id": 2, "was_cancelled": False, "result": result}],
         "predictions": []},
        {"id": 8, "data": {"ocr": "/data/upload/3/missing.png"}, "annotations": []},
    ]
    export = write_json(tmp_path / "project-1-at-2026.json", tasks)
    write_json(tmp_path / "other.json", {"not": "tasks"})
    pages, problems = import_label_studio(tmp_path, image_root=tmp_path / "media" / "upload" / "3")
    (page,) = pages
    assert page.truth.segments[0].label == "Text"
    (text0, box0), (text1, box1), (text2, box2) = boxed(page)
    assert (text0, box0) == ("TOTAL 42.00", (100, 100, 400, 120))
    assert (text1, box1) == ("EUR", (500, 250, 600, 270))
    # 50 x 50 px turned a quarter clockwise about its top-left corner (800, 50)
    assert text2 == "side" and box2 == pytest.approx((750, 50, 800, 100))
    assert (page.truth.width, page.truth.height) == (1000, 500)
    assert problem_files(problems) == {export.name, "other.json"}
    reasons = " | ".join(p.reason for p in problems)
    assert "task 7: region x1: a transcription without a shape" in reasons
    assert "task 8: image /data/upload/3/missing.png not found" in reasons
    assert "list of tasks" in reasons


def test_label_studio_local_files_path(tmp_path: Path) -> None:
    image(tmp_path / "scans" / "a b.png")
    rect = {"x": 0, "y": 0, "width": 50, "height": 50, "rotation": 0}
    write_json(tmp_path / "export.json", [{
        "id": 1, "data": {"image": "/data/local-files/?d=scans/a%20b.png"},
        "annotations": [{"result": [ls_result("r", "textarea", {**rect, "text": ["x"]})]}]}])
    (page,), problems = import_label_studio(tmp_path / "export.json")
    assert not problems and page.image == str(tmp_path / "scans" / "a b.png")
    assert boxed(page) == [("x", (0, 0, 500, 250))]


# ------------------------------------------------------------------------------ PaddleOCR


def paddle_folder(root: Path) -> Path:
    folder = root / "imgs"
    image(folder / "p1.jpg")
    image(folder / "p2.jpg")
    quad = [[10, 10], [110, 12], [110, 40], [10, 38]]
    lines = [
        "imgs/p1.jpg\t" + json.dumps([
            {"transcription": "Claim", "points": quad, "difficult": False},
            {"transcription": "###", "points": [[200, 5], [260, 5], [260, 30], [200, 30]],
             "difficult": False},
        ], ensure_ascii=False),
        "imgs/p2.jpg\t[{\"transcription\": \"broken\", \"points\": [[1, 2]",
        "imgs/p2.jpg\t" + json.dumps([{"transcription": "Total", "points": quad}]),
    ]
    (folder / "Label.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_paddle_detection_labels(tmp_path: Path) -> None:
    folder = paddle_folder(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "Label.txt").write_text("just some notes\nwithout tabs\n")
    pages, problems = import_paddle_det(tmp_path)
    assert [p.page_id for p in pages] == ["paddle-det:imgs/p1.jpg", "paddle-det:imgs/p2.jpg"]
    assert boxed(pages[0]) == [("Claim", (10, 10, 110, 40)), ("", (200, 5, 260, 30))]
    assert pages[0].image == str(folder / "p1.jpg")
    assert [(Path(p.path).parent.name, p.reason.split(":")[0]) for p in problems] == [
        ("imgs", "line 2"), ("other", "not a PaddleOCR label file")]


def test_paddle_recognition_crops_follow_their_page(tmp_path: Path) -> None:
    folder = paddle_folder(tmp_path)
    image(folder / "crop_img" / "p1_crop_0.jpg")
    image(folder / "crop_img" / "loose_crop_0.jpg")
    (folder / "rec_gt.txt").write_text(
        "crop_img/p1_crop_0.jpg\tClaim\ncrop_img/gone_crop_0.jpg\tx\n"
        "crop_img/loose_crop_0.jpg\tTotal\n", encoding="utf-8")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "rec_gt.txt").write_bytes(b"\xff\xfe not text")
    pages, problems = import_paddle_rec(tmp_path)
    assert [(p.kind, p.truth.lines, p.truth.has_boxes) for p in pages] == [
        ("crop", ("Claim",), False), ("crop", ("Total",), False)]
    assert pages[0].document == file_id(folder / "p1.jpg")  # the page it was cut from
    assert pages[1].document == file_id(folder / "crop_img" / "loose_crop_0.jpg")
    assert [(Path(p.path).parent.name, p.reason) for p in problems] == [
        ("imgs", f"line 2: crop crop_img/gone_crop_0.jpg not found under {folder}"),
        ("notes", "not UTF-8 text (invalid start byte at byte 0)")]


# ----------------------------------------------------------------------------------- lake


def test_lake_audits_and_sidecars(tmp_path: Path) -> None:
    lake = LocalStore(tmp_path / "lake")
    for name, doc in (("d1-p0", "d1"), ("d2-p3", "d2"), ("d3-p0", "d3")):
        lake.put(f"{AUDIT_PENDING}/b1/{name}.png", b"png " + name.encode())
        lake.put(f"{AUDIT_PENDING}/b1/{name}.json", json.dumps({"doc_id": doc}).encode())
    lake.put(f"{AUDIT_RETURNED}/b1/d1-p0.gt.txt", b"ignored: the JSON answer wins")
    lake.put(f"{AUDIT_RETURNED}/b1/d1-p0.gt.json", json.dumps({"form": [
        {"box": [1, 2, 30, 12], "text": "Hello", "words": [{"box": [1, 2, 30, 12],
                                                            "text": "Hello"}]}]}).encode())
    lake.put(f"{AUDIT_RETURNED}/b1/d2-p3.gt.txt", b"first line\nsecond line\n")
    lake.put(f"{AUDIT_RETURNED}/b1/d3-p0.gt.json", b"{broken")
    lake.put(f"{AUDIT_RETURNED}/b1/d9-p0.gt.txt", b"answers nothing")
    pages, problems = import_audits(lake)
    assert [(p.page_id, p.document) for p in pages] == [
        ("audit:b1/d1-p0.gt.json", "d1"), ("audit:b1/d2-p3.gt.txt", "d2")]
    assert boxed(pages[0]) == [("Hello", (1, 2, 30, 12))]
    assert pages[1].truth.lines == ("first line", "second line")
    assert pages[0].image == lake.uri(f"{AUDIT_PENDING}/b1/d1-p0.png")
    assert [(Path(p.path).name, p.reason.split(":")[0]) for p in problems] == [
        ("d3-p0.gt.json", "not JSON"),
        ("d9-p0.gt.txt", f"answers no pending audit ({AUDIT_PENDING}/b1/d9-p0.json is missing)")]

    source = LocalStore(tmp_path / "source")
    source.put("2026/claim.pdf", b"%PDF two pages")
    source.put("2026/claim.gt.json", json.dumps({"pages": [{"form": []}, {"form": [
        {"box": [0, 0, 5, 5], "text": "p2", "words": [{"box": [0, 0, 5, 5], "text": "p2"}]}]}]
    }).encode())
    source.put("2026/claim.gt.txt", b"ignored\fignored")
    source.put("2026/scan.png", b"png scan")
    source.put("2026/scan.gt.txt", b"Policy 1\n")
    source.put("2026/orphan.gt.txt", b"no document")
    source.put("2026/bad.tif", b"tiff")
    source.put("2026/bad.gt.json", b"[]")
    pages, problems = import_sidecars(source)
    assert [(p.page_id, p.frame, p.dpi) for p in pages] == [
        ("sidecar:2026/claim.pdf#p0", 0, SIDECAR_PDF_DPI),
        ("sidecar:2026/claim.pdf#p1", 1, SIDECAR_PDF_DPI),
        ("sidecar:2026/scan.png#p0", 0, None)]
    assert pages[0].document == pages[1].document == file_id(tmp_path / "source/2026/claim.pdf")
    assert boxed(pages[1]) == [("p2", (0, 0, 5, 5))] and pages[2].truth.lines == ("Policy 1",)
    assert [(Path(p.path).name, p.reason) for p in problems] == [
        ("bad.gt.json", "a FUNSD annotation is a JSON object, not list"),
        ("orphan.gt.txt", "a sidecar without a document")]


# ------------------------------------------------------------------------- splits, card


def page(n: int, text: str = "ab", document: str | None = None, source: str = "t",
         kind: str = "page") -> LabelledPage:
    if kind == "crop":
        truth = TruthPage(lines=(text,))
    else:
        words = tuple(TruthWord(t, (i * 10.0, 0.0, i * 10.0 + 8, 8.0))
                      for i, t in enumerate(text.split(" ")))
        truth = TruthPage(segments=(TruthSegment(text, (0.0, 0.0, 100.0, 8.0), words),))
    return LabelledPage(f"{source}:{n}", f"/img/{n}.png", truth, source,
                        document or f"doc{n}", kind=kind)


def test_splits_are_stable_when_data_is_added() -> None:
    first = Dataset.of(([page(i) for i in range(300)], []))
    more = Dataset.of(([page(i) for i in range(1000)], []), ([page(5000, document="doc7")], []))
    before = {p.page_id: p.split for p in first.pages}
    after = {p.page_id: p.split for p in more.pages}
    assert all(after[k] == v for k, v in before.items())
    assert after["t:5000"] == after["t:7"]  # pages of one document share a split
    shares = [sum(s == name for s in after.values()) / len(after) for name in SPLITS]
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.04)
    assert split_of("doc7") == after["t:7"]
    assert split_of("doc7", (0.0, 0.0, 1.0)) == "test"
    with pytest.raises(ValueError):
        split_of("doc7", (1.0, 0.0))


def test_card_counts_sources_splits_and_histogram(tmp_path: Path) -> None:
    dataset = Dataset.of(
        ([page(1, "Total 42"), page(2, "aa b", document="doc1")], []),
        ([page(3, "Zz", source="crops", kind="crop")], []),
        ([], [Problem("x.json", "broken")]),
    )
    card = build_card(dataset, "unit").to_dict()
    assert card["name"] == "unit" and card["format"] == "ocr-dataset-card/1"
    assert card["totals"] == {"pages": 2, "crops": 1, "documents": 2, "words": 4,
                              "dontcare_words": 0, "characters": 12}
    assert card["sources"]["t"]["pages"] == 2 and card["sources"]["crops"]["crops"] == 1
    assert card["characters"] == {"a": 3, "2": 1, "4": 1, "T": 1, "Z": 1, "b": 1, "l": 1,
                                  "o": 1, "t": 1, "z": 1}
    assert list(card["characters"].items())[0] == ("a", 3)  # most frequent first
    counts = card["splits"]["counts"]
    assert sum(c["pages"] + c["crops"] for c in counts.values()) == 3
    assert card["splits"]["fractions"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert card["problems"] == ["x.json: broken"]

    card_path = write_dataset(dataset, tmp_path / "out", "unit")
    assert json.loads(card_path.read_text()) == card
    again = read_pages(tmp_path / "out" / "pages.jsonl")
    assert [(p.page_id, p.split, p.kind, p.text) for p in again] == [
        (p.page_id, p.split, p.kind, p.text) for p in dataset.pages]
    assert again[0].truth.words == dataset.pages[0].truth.words
