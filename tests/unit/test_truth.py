"""The one ground-truth type and its formats: FUNSD JSON, .gt.txt, sidecar names."""

from __future__ import annotations

import json

import pytest

from ocr_tasks.core.errors import CorruptInput
from ocr_tasks.core.geometry import quarter_turn_box, quarter_turn_matrix
from ocr_tasks.pipeline.discovery import is_document_key
from ocr_tasks.truth import (
    AUDIT_PENDING,
    AUDIT_RETURNED,
    SIDECAR_SUFFIXES,
    TruthPage,
    TruthSegment,
    TruthWord,
    audit_page_name,
    audit_pending_base,
    dump_funsd,
    dump_txt,
    parse_funsd,
    parse_truth_file,
    parse_txt,
    preferred_truth_keys,
    sidecar_keys,
)

FORM = {"form": [
    {"box": [10, 10, 90, 30], "text": "Name:", "label": "question", "id": 0,
     "words": [{"box": [10, 10, 90, 30], "text": "Name:"}], "linking": [[0, 1]]},
    {"box": [100, 10, 220, 30], "text": "Maria Keller", "label": "answer", "id": 1,
     "words": [{"box": [100, 10, 150, 30], "text": "Maria"},
               {"box": [155, 10, 220, 30], "text": "Keller"}], "linking": [[0, 1]]},
    {"box": [300, 5, 360, 60], "text": "", "label": "other", "id": 2,
     "words": [{"box": [300, 5, 360, 60], "text": ""}], "linking": []},  # a logo
]}


def test_funsd_round_trip_keeps_ids_labels_links_and_dontcare_words() -> None:
    (page,) = parse_funsd(json.dumps(FORM).encode())
    assert page.to_funsd() == FORM
    assert page.links == ((0, 1),)
    assert [w.text for w in page.counted_words] == ["Name:", "Maria", "Keller"]
    assert page.dontcare_words == (TruthWord("", (300.0, 5.0, 360.0, 60.0)),)
    assert page.boxed_segments == (("Name:", (10, 10, 90, 30)),
                                   ("Maria Keller", (100, 10, 220, 30)))
    assert page.has_boxes and page.words[1] == ("Maria", (100, 10, 150, 30))


def test_multi_page_sidecar_form_round_trips_through_the_writer() -> None:
    two = [TruthPage.from_funsd(FORM), TruthPage.from_funsd({"form": FORM["form"][:1]})]
    text = dump_funsd(two)
    assert text.startswith('{"pages": [') and text.endswith("\n")
    again = parse_funsd(text)
    assert [p.to_funsd() for p in again] == [p.to_funsd() for p in two]
    assert parse_funsd(dump_funsd(two[:1]))[0].to_funsd() == FORM  # one page: a bare form


def test_funsd_boxes_are_put_in_order_and_written_outwards() -> None:
    (page,) = parse_funsd({"form": [{"box": [50, 40, 10, 20], "text": "x",
                                     "words": [{"box": [10.2, 20.7, 49.1, 39.5], "text": "x"}]}]})
    assert page.segments[0].box == (10, 20, 50, 40)
    assert page.to_funsd()["form"][0]["words"][0]["box"] == [10, 20, 50, 40]


@pytest.mark.parametrize(("data", "reason"), [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"lines": []}', '"form" or "pages"'),
    (b'{"pages": {"form": []}}', "not a list"),
    (b'{"form": [{"text": "Total"}]}', "entry 0: missing 'box'"),
    (b'{"form": [{"box": [1, 2, 3], "text": "x"}]}', "four finite numbers"),
    (b'{"pages": [{"form": []}, {"form": [7]}]}', "page 1: FUNSD entry 0"),
    (b"\xff\xfe{}", "not JSON"),
])
def test_malformed_funsd_says_why(data: bytes, reason: str) -> None:
    with pytest.raises(CorruptInput, match=reason):
        parse_funsd(data)


def test_txt_codec_round_trip() -> None:
    pages = parse_txt(b"\xef\xbb\xbffirst line\r\n\r\nsecond\f\npage two\n\f")
    assert [p.lines for p in pages] == [("first line", "second"), ("page two",)]
    assert not pages[0].has_boxes
    assert dump_txt(pages) == "first line\nsecond\fpage two\n"
    assert [p.lines for p in parse_txt(dump_txt(pages))] == [p.lines for p in pages]
    with pytest.raises(CorruptInput, match="UTF-8"):
        parse_txt(b"\xff\xfe\x00")


def test_sidecar_naming_has_one_owner() -> None:
    assert sidecar_keys("a/b/claim.v2.pdf") == ("a/b/claim.v2.gt.json", "a/b/claim.v2.gt.txt")
    assert sidecar_keys("scan") == ("scan.gt.json", "scan.gt.txt")
    for key in sidecar_keys("a/claim.pdf"):
        assert key.endswith(SIDECAR_SUFFIXES) and not is_document_key(key)
    assert is_document_key("a/claim.pdf")


def test_audit_layout_and_json_preference() -> None:
    name = audit_page_name("d1", 3)
    returned = [f"{AUDIT_RETURNED}/b1/{name}.gt.txt", f"{AUDIT_RETURNED}/b1/{name}.gt.json",
                f"{AUDIT_RETURNED}/b1/d2-p0.gt.txt", f"{AUDIT_RETURNED}/b1/notes.md"]
    assert preferred_truth_keys(returned) == [f"{AUDIT_RETURNED}/b1/d1-p3.gt.json",
                                              f"{AUDIT_RETURNED}/b1/d2-p0.gt.txt"]
    assert audit_pending_base(returned[1]) == f"{AUDIT_PENDING}/b1/d1-p3"
    assert parse_truth_file(returned[0], b"a\nb")[0].lines == ("a", "b")
    with pytest.raises(CorruptInput, match="not a truth file"):
        parse_truth_file(returned[3], b"")


def rendered() -> TruthPage:
    """Two rows drawn out of reading order: row 0 holds segments 0 and 2."""
    w = TruthWord
    return TruthPage(segments=(
        TruthSegment("Name", (10, 10, 50, 20), (w("Name", (10, 10, 50, 20)),), "question", 0, 0),
        TruthSegment("Maria", (10, 30, 60, 40), (w("Maria", (10, 30, 60, 40)),), "answer", 1, 1),
        TruthSegment("Born", (100, 10, 140, 20), (w("Born", (100, 10, 140, 20)),), "question", 2,
                     0),
    ), width=200, height=100, links=((0, 1),))


def test_rows_give_reading_order_and_lines() -> None:
    page = rendered()
    assert page.reading_lines() == [("Name Born", (10, 10, 140, 20)), ("Maria", (10, 30, 60, 40))]
    assert [t for t, _ in page.reading_words()] == ["Name", "Born", "Maria"]
    assert page.text == "Name Born\nMaria"
    lines = page.as_lines()
    assert lines.boxed_segments == tuple(page.reading_lines())
    assert lines.words == tuple(page.reading_words()) and lines.text == page.text


def test_transformed_and_scaled_move_every_box() -> None:
    page = rendered()
    turned = page.transformed(quarter_turn_matrix(90, 200, 100), 100, 200)
    assert (turned.width, turned.height) == (100, 200)
    for before, after in zip(page.words, turned.words, strict=True):
        assert after.box == quarter_turn_box(before.box, 90, 200, 100)
    assert turned.segments[2].box == quarter_turn_box(page.segments[2].box, 90, 200, 100)
    half = page.scaled(0.5)
    assert half.words[2].box == (50, 5, 70, 10) and (half.width, half.height) == (100, 50)
    assert half.links == page.links and half.segments[0].label == "question"


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_page_fed_sideways_or_upside_down_still_reads_its_rows_in_order(degrees: int) -> None:
    # a canary or sample page turned by the scan profile: its rows are scored as lines, so
    # "Born Name" for "Name Born" would count the page's reading as wrong
    page = rendered()
    turned = page.transformed(quarter_turn_matrix(degrees, 200, 100),
                              *((100, 200) if degrees % 180 else (200, 100)))
    assert turned.turned == degrees
    assert turned.text == page.text == "Name Born\nMaria"
    assert [w.text for w in turned.reading_words()] == ["Name", "Born", "Maria"]
    assert turned.as_lines().text == page.text and turned.as_lines().turned == degrees
    back = turned.transformed(quarter_turn_matrix(-degrees, turned.width, turned.height),
                              200, 100)
    assert back.turned == 0 and back.text == page.text
