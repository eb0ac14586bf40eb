"""hOCR 1.2 (XHTML): ``ocr_page`` > ``ocr_carea`` > ``ocr_par`` > ``ocr_line`` >
``ocrx_word``, each with its ``bbox``, the nesting Tesseract writes and hOCR readers
(OCRmyPDF, hocr-tools) expect. The engine finds lines, not blocks: a page's lines form one
area and paragraph. Boxes are whole pixels of the page as delivered; a line's box is grown to
hold its words' boxes (the spec nests them); word confidences are ``x_wconf`` (0-100).
``check`` validates what the spec requires of such a file (see its docstring).
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

from ocr_tasks.document import Document, Page
from ocr_tasks.exports.boxes import IntBox, int_box, union

CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word"
_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>{title}</title>
  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
  <meta name="ocr-system" content={system}/>
  <meta name="ocr-capabilities" content="{capabilities}"/>
  <meta name="ocr-number-of-pages" content="{pages}"/>
 </head>
 <body>
"""


def _bbox(b: IntBox) -> str:
    return f"bbox {b[0]} {b[1]} {b[2]} {b[3]}"


def _page(page: Page, number: int, out: list[str]) -> None:
    w, h = page.width, page.height
    title = f"{_bbox((0, 0, w, h))}; ppageno {page.index}"
    if page.dpi:
        title += f"; scan_res {round(page.dpi)} {round(page.dpi)}"
    out.append(f'  <div class="ocr_page" id="page_{number}" title="{title}">\n')
    lines = []
    for line in page.lines:
        words = [(w, int_box(w.box, page.width, page.height)) for w in line.words]
        if words:
            box = union([int_box(line.box, page.width, page.height), *(b for _, b in words)])
            lines.append((words, box))
    if lines:
        area = _bbox(union(box for _, box in lines))
        out.append(f'   <div class="ocr_carea" id="block_{number}" title="{area}">\n'
                   f'    <p class="ocr_par" id="par_{number}" title="{area}">\n')
    for li, (words, box) in enumerate(lines, 1):
        out.append(f'     <span class="ocr_line" id="line_{number}_{li}" '
                   f'title="{_bbox(box)}">')
        for wi, (word, wbox) in enumerate(words, 1):
            conf = round(min(max(word.confidence, 0.0), 1.0) * 100)
            out.append(f'<span class="ocrx_word" id="word_{number}_{li}_{wi}" '
                       f'title="{_bbox(wbox)}; x_wconf {conf}">{escape(word.text)}</span>')
            if wi < len(words):
                out.append(" ")
        out.append("</span>\n")
    if lines:
        out.append("    </p>\n   </div>\n")
    out.append("  </div>\n")


def to_hocr(document: Document) -> bytes:
    """One hOCR file for the document's pages, in page order."""
    versions = sorted({p.model_version for p in document.pages if p.model_version})
    system = "ocr-pipeline" + (f" ({', '.join(versions)})" if versions else "")
    out = [_HEAD.format(title=escape(document.source), system=quoteattr(system),
                        capabilities=CAPABILITIES, pages=len(document.pages))]
    for number, page in enumerate(sorted(document.pages, key=lambda p: p.index), 1):
        _page(page, number, out)
    out.append(" </body>\n</html>\n")
    return "".join(out).encode()


_BBOX = re.compile(r"(?:^|;)\s*bbox\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s*(?:;|$)")
_XHTML = "{http://www.w3.org/1999/xhtml}"


def _box_of(title: str | None) -> IntBox | None:
    m = _BBOX.search(title or "")
    return tuple(int(v) for v in m.groups()) if m else None  # type: ignore[return-value]


def _inside(inner: IntBox, outer: IntBox) -> bool:
    return (inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2]
            and inner[3] <= outer[3])


def check(data: bytes) -> list[str]:
    """What the hOCR spec requires of our files, as problems (empty: valid): well-formed
    XHTML; ``ocr-system`` and ``ocr-capabilities`` metadata naming every class used; every
    ``ocr_page``, ``ocr_carea``, ``ocr_par``, ``ocr_line`` and ``ocrx_word`` with a ``bbox``
    of 4 integers, x0 <= x1 and y0 <= y1; each inside the one above it (area in a page,
    paragraph in an area, line in a paragraph, word in a line), each box inside its
    parent's; ids unique."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        return [f"not well-formed XML: {e}"]
    problems: list[str] = []
    if root.tag != f"{_XHTML}html":
        problems.append(f"root element is {root.tag}, not XHTML html")
    meta = {m.get("name"): m.get("content", "") for m in root.iter(f"{_XHTML}meta")}
    if not meta.get("ocr-system"):
        problems.append("no ocr-system meta")
    capabilities = set(meta.get("ocr-capabilities", "").split())
    ids: set[str] = set()
    parents = {"ocr_page": None, "ocr_carea": "ocr_page", "ocr_par": "ocr_carea",
               "ocr_line": "ocr_par", "ocrx_word": "ocr_line"}

    def walk(element: ET.Element, ancestor: tuple[str, IntBox] | None) -> None:
        for child in element:
            cls = child.get("class")
            here = ancestor
            if cls in parents:
                if cls not in capabilities:
                    problems.append(f"{cls} is not in ocr-capabilities")
                ident = child.get("id") or ""
                if not ident or ident in ids:
                    problems.append(f"{cls} id {ident!r} missing or repeated")
                ids.add(ident)
                box = _box_of(child.get("title"))
                where = f"{cls} {ident}"
                if box is None:
                    problems.append(f"{where}: no bbox in its title")
                elif box[0] > box[2] or box[1] > box[3]:
                    problems.append(f"{where}: bbox {box} is inverted")
                want = parents[cls]
                if want is not None and (ancestor is None or ancestor[0] != want):
                    problems.append(f"{where}: not inside an {want}")
                elif ancestor is not None and box is not None and not _inside(box, ancestor[1]):
                    problems.append(f"{where}: bbox {box} outside its {ancestor[0]} "
                                    f"{ancestor[1]}")
                if cls == "ocr_page" and ancestor is not None:
                    problems.append(f"{where}: a page inside another element")
                if box is not None:
                    here = (cls, box)
            walk(child, here)

    walk(root, None)
    if not any(True for _ in root.iter() if _.get("class") == "ocr_page"):
        problems.append("no ocr_page")
    return problems
