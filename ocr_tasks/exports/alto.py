"""ALTO v4 XML (schema ``alto-4-4.xsd``): one ``Page`` per page, its lines in one
``TextBlock``, words as ``String`` with ``SP`` between them; measurements in pixels.

``check`` validates the rules of the schema these files use (see its docstring); the
official XSD validates them too (README, "Exports").
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from ocr_tasks.document import Document, Page
from ocr_tasks.exports.boxes import IntBox, int_box, union

NS = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA_LOCATION = f"{NS} http://www.loc.gov/alto/v4/alto-4-4.xsd"


def _pos(b: IntBox) -> str:
    return f'HPOS="{b[0]}" VPOS="{b[1]}" WIDTH="{b[2] - b[0]}" HEIGHT="{b[3] - b[1]}"'


def _page(page: Page, number: int, out: list[str]) -> None:
    w, h = page.width, page.height
    out.append(f'  <Page ID="page_{number}" PHYSICAL_IMG_NR="{page.index + 1}" '
               f'WIDTH="{w}" HEIGHT="{h}">\n')
    lines = []
    for line in page.lines:
        words = [(word, int_box(word.box, w, h)) for word in line.words if word.text]
        if words:
            lines.append(words)
    if not lines:
        out.append(f'   <PrintSpace {_pos((0, 0, w, h))}/>\n  </Page>\n')
        return
    out.append(f'   <PrintSpace {_pos((0, 0, w, h))}>\n')
    boxes = [union(b for _, b in words) for words in lines]
    out.append(f'    <TextBlock ID="block_{number}" {_pos(union(boxes))}>\n')
    for li, (words, box) in enumerate(zip(lines, boxes, strict=True), 1):
        out.append(f'     <TextLine ID="line_{number}_{li}" {_pos(box)}>')
        for wi, (word, wbox) in enumerate(words, 1):
            if wi > 1:
                out.append("<SP/>")
            conf = min(max(float(word.confidence), 0.0), 1.0)
            out.append(f'<String ID="string_{number}_{li}_{wi}" CONTENT={quoteattr(word.text)} '
                       f'{_pos(wbox)} WC="{conf:.4f}"/>')
        out.append("</TextLine>\n")
    out.append("    </TextBlock>\n   </PrintSpace>\n  </Page>\n")


def to_alto(document: Document, when: datetime | None = None) -> bytes:
    """One ALTO file for the document's pages, in page order."""
    versions = sorted({p.model_version for p in document.pages if p.model_version})
    stamp = (when or datetime.now(UTC)).replace(microsecond=0).isoformat()
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<alto xmlns="{NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{SCHEMA_LOCATION}">\n',
        " <Description>\n  <MeasurementUnit>pixel</MeasurementUnit>\n",
        "  <sourceImageInformation>\n",
        f"   <fileName>{escape(document.source)}</fileName>\n",
        "  </sourceImageInformation>\n",
        '  <Processing ID="processing_1">\n',
        f"   <processingDateTime>{stamp}</processingDateTime>\n",
        "   <processingSoftware>\n    <softwareName>ocr-pipeline</softwareName>\n",
        f"    <softwareVersion>{escape(', '.join(versions))}</softwareVersion>\n",
        "   </processingSoftware>\n  </Processing>\n </Description>\n",
        " <Layout>\n",
    ]
    for number, page in enumerate(sorted(document.pages, key=lambda p: p.index), 1):
        _page(page, number, out)
    out.append(" </Layout>\n</alto>\n")
    return "".join(out).encode()


_REQUIRED_POS = ("HPOS", "VPOS", "WIDTH", "HEIGHT")


def check(data: bytes) -> list[str]:
    """The schema's rules for the elements these files use, as problems (empty: valid):
    the v4 namespace; ``Description`` with ``MeasurementUnit`` first; ``Layout`` of ``Page``
    elements with a unique ``ID``; ``TextBlock``/``TextLine``/``String`` with unique IDs and
    numeric ``HPOS``, ``VPOS``, ``WIDTH``, ``HEIGHT``; every ``TextLine`` with at least one
    ``String``; ``String`` with ``CONTENT`` and ``WC`` in [0, 1]; boxes inside the page."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        return [f"not well-formed XML: {e}"]
    q = f"{{{NS}}}"
    problems: list[str] = []
    if root.tag != f"{q}alto":
        return [f"root element is {root.tag}, not ALTO v4 alto"]
    kids = [c.tag for c in root]
    if kids[:2] != [f"{q}Description", f"{q}Layout"]:
        problems.append(f"alto holds {kids}, not Description then Layout")
    description = root.find(f"{q}Description")
    if description is None or not len(description) or description[0].tag != (
            f"{q}MeasurementUnit"):
        problems.append("Description does not start with MeasurementUnit")
    ids: set[str] = set()

    def number(element: ET.Element, name: str) -> float | None:
        try:
            return float(element.get(name, ""))
        except ValueError:
            problems.append(f"{element.tag[len(q):]} {element.get('ID')}: {name} "
                            f"{element.get(name)!r} is not a number")
            return None

    for page in root.iter(f"{q}Page"):
        pw, ph = number(page, "WIDTH"), number(page, "HEIGHT")
        for element in page.iter():
            tag = element.tag[len(q):]
            ident = element.get("ID")
            if ident is not None:
                if ident in ids or not ident[:1].isalpha():
                    problems.append(f"{tag}: ID {ident!r} repeated or not an NCName")
                ids.add(ident)
            if tag in ("Page", "TextBlock", "TextLine", "String") and ident is None:
                problems.append(f"{tag} without ID")
            if tag not in ("TextBlock", "TextLine", "String", "PrintSpace"):
                continue
            x, y, w, h = (number(element, n) for n in _REQUIRED_POS)
            if None not in (x, y, w, h, pw, ph) and (
                    x < 0 or y < 0 or x + w > pw or y + h > ph):  # type: ignore[operator]
                problems.append(f"{tag} {ident}: box outside its page")
            if tag == "TextLine" and element.find(f"{q}String") is None:
                problems.append(f"TextLine {ident} has no String")
            if tag == "String":
                if element.get("CONTENT") is None:
                    problems.append(f"String {ident} has no CONTENT")
                wc = number(element, "WC")
                if wc is not None and not 0.0 <= wc <= 1.0:
                    problems.append(f"String {ident}: WC {wc} outside [0, 1]")
    return problems
