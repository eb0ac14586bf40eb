"""Insurance document layouts: claim form, policy schedule, letter, ID card, a repairer's
invoice and a claims bordereau (a table page).

Each builder draws one clean page on a ``Canvas`` from a ``DocSpec`` and a seeded generator;
degradation happens later. Layouts check the remaining space before each optional block, so
any font size from the spec keeps the page within its margins. A spec may ask for values
filled in by hand (``hand_font``) and a rubber stamp; both draw their random values after
the layout's, so a spec without them renders exactly as before.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import timedelta

import numpy as np

from ocr_tasks.synth.fake_data import FakeData, Money, format_date
from ocr_tasks.synth.fonts import (
    FontFamily,
    family,
    handwriting_families,
    print_families,
)
from ocr_tasks.synth.layout import (
    BLUE_INK,
    STAMP_INKS,
    Canvas,
    Style,
    paper_size_px,
    pt_to_px,
)
from ocr_tasks.synth.texts import (
    BROKERS,
    CLAIM_STATUSES,
    COVERAGES,
    DAMAGE_ITEMS,
    DESCRIPTIONS,
    ID_LABELS,
    INCIDENTS,
    INSURED_OBJECTS,
    INVOICE_LABELS,
    LABELS,
    LETTER_PARAGRAPHS,
    LETTER_SUBJECTS,
    LOSS_TYPES,
    REPAIRERS,
    SCHEDULE_NOTES,
    STAMPS,
    TABLE_LABELS,
)
from ocr_tasks.truth import TruthPage

KINDS = ("claim_form", "policy_schedule", "letter", "id_card", "invoice", "table")
ACCENTS = ((214, 228, 245), (225, 240, 225), (245, 232, 214), (235, 235, 235), (240, 222, 230))


@dataclass(frozen=True)
class DocSpec:
    """What to draw: layout kind, language, paper, font family, body size and resolution."""

    kind: str
    lang: str = "en"
    paper: str = "A4"
    font_family: str = "dejavu-sans"
    body_pt: float = 11.0
    dpi: int = 150
    max_lines: int = 60
    hand_font: str = ""  # a handwriting family for the values filled in ("" = typed)
    stamp: bool = False  # a rubber stamp where it covers no text

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "kind": self.kind, "lang": self.lang, "paper": self.paper,
            "font_family": self.font_family, "body_pt": self.body_pt, "dpi": self.dpi}
        if self.hand_font:
            d["hand_font"] = self.hand_font
        if self.stamp:
            d["stamp"] = True
        return d


@dataclass(frozen=True)
class RenderedPage:
    """A clean page (HxWx3 BGR) with its ground truth, before degradation."""

    image: np.ndarray
    truth: TruthPage
    spec: DocSpec
    meta: dict[str, str] = field(default_factory=dict)


class Flow:
    """Top-to-bottom placement on a canvas: a baseline cursor, margins and styles."""

    def __init__(
        self, canvas: Canvas, spec: DocSpec, fam: FontFamily, rng: random.Random
    ) -> None:
        self.c, self.spec, self.fam, self.rng = canvas, spec, fam, rng
        self.size = pt_to_px(spec.body_pt, spec.dpi)
        self.lead = round(self.size * 1.5)
        self.left, self.right = canvas.mm(18), canvas.width - canvas.mm(18)
        self.bottom = canvas.height - canvas.mm(16)
        self.y = canvas.mm(14) + self.size
        self.lines = 0
        self.body = Style(fam.regular, self.size)
        self.bold = Style(fam.bold, self.size)
        self.small = Style(fam.regular, max(6, round(self.size * 0.8)))
        self.value = Style(fam.mono if rng.random() < 0.3 else fam.regular, self.size,
                           (15, 25, 70) if rng.random() < 0.3 else (20, 20, 24))
        if spec.hand_font:  # filled in with a pen: a larger hand in blue ink
            self.value = Style(family(spec.hand_font).regular, round(self.size * 1.15), BLUE_INK)
        self.accent = rng.choice(ACCENTS)

    @property
    def width(self) -> float:
        return self.right - self.left

    def fits(self, lines: int) -> bool:
        """Room for ``lines`` more lines below the cursor (and within the line budget)."""
        return (self.y + (lines - 1) * self.lead <= self.bottom - self.lead
                and self.lines + lines <= self.spec.max_lines)

    def newline(self, factor: float = 1.0) -> None:
        self.y += round(self.lead * factor)

    def text(self, x: float, text: str, style: Style, **kw: str) -> int:
        return self.c.text(x, self.y, text, style, **kw)

    def line(self, x: float, text: str, style: Style, **kw: str) -> None:
        """One full line of text, then move down."""
        self.text(x, text, style, **kw)
        self.lines += 1
        self.newline()

    def heading(self, text: str) -> None:
        top = self.y - self.size - round(self.size * 0.35)
        self.c.rect((self.left, top, self.right, top + round(self.lead * 1.05)),
                    fill=self.accent, outline=None)
        self.text(self.left + self.size // 2, text, self.bold, label="header")
        self.lines += 1
        self.newline(1.25)

    def fit(self, style: Style, text: str, max_width: float) -> Style:
        """``style``, shrunk (down to 70 %) until ``text`` fits ``max_width``: what a form
        designer does with a long value in a narrow box."""
        size = style.size_px
        while (size > style.size_px * 0.7
               and self.c.text_width(text, replace(style, size_px=size)) > max_width):
            size -= 1
        return replace(style, size_px=size)

    def fields(self, pairs: list[tuple[str, str]], columns: int = 2) -> None:
        """Label/value pairs in aligned columns (values start at a common x per column); a
        pair that does not fit its column gets the full width on a line of its own."""
        col_w = self.width / columns
        label_w = [max(self.c.text_width(p[0], self.body) for p in pairs[i::columns])
                   for i in range(columns)]
        rows: list[list[tuple[float, str, str, float]]] = []  # (x, label, value, label width)
        for start in range(0, len(pairs), columns):
            chunk = pairs[start : start + columns]
            if all(label_w[i] + self.size * 2 + self.c.text_width(v, self.value) <= col_w
                   for i, (_, v) in enumerate(chunk)) or columns == 1:
                rows.append([(self.left + i * col_w, lb, v, label_w[i])
                             for i, (lb, v) in enumerate(chunk)])
            else:
                rows.extend(
                    [(self.left, lb, v, max(label_w[0], self.c.text_width(lb, self.body)))]
                    for lb, v in chunk
                )
        for row in rows:
            for x, label, value, lw in row:
                value_x = x + lw + self.size
                style = self.fit(self.value, value, self.right - value_x)
                self.c.field(x, self.y, label, value, self.body, style, value_x)
            self.lines += 1
            self.newline()

    def checkboxes(self, question: str, names: tuple[str, ...], checked: int) -> None:
        """A question and as many of its ☐ options as fit the line, option ``checked``
        ticked (an option that does not fit stays off the page, so nothing is ticked)."""
        x = self.left + self.c.text_width(question + "  ", self.body)
        box, gap = round(self.size * 0.8), self.size * 0.4
        options = []  # (x, name) of the options that fit on the line at this font size
        for name in names:
            if x + box + gap + self.c.text_width(name, self.body) > self.right:
                break
            options.append((x, name))
            x += box + gap + self.c.text_width(name, self.body) + self.size * 1.2
        self.text(self.left, question, self.body, label="question")
        for i, (x, name) in enumerate(options):
            self.c.checkbox(x, self.y, box, i == checked)
            self.text(x + box + gap, name, self.body)
        self.lines += 1
        self.newline()

    def paragraph(self, text: str, style: Style | None = None, indent: float = 0) -> None:
        style = style or self.body
        for line in self.c.wrap(text, style, self.width - indent):
            if not self.fits(1):
                return
            self.line(self.left + indent, line, style)

    def table(self, headers: list[str], rows: list[list[str]], widths: list[float],
              right_aligned: set[int]) -> None:
        """A ruled table; ``widths`` are fractions of the text width."""
        xs = [self.left + sum(widths[:i]) * self.width for i in range(len(widths) + 1)]
        row_h = round(self.lead * 1.15)
        top = self.y - round(row_h * 0.72)
        pad = self.size * 0.4
        self.c.rect((xs[0], top, xs[-1], top + row_h), fill=self.accent, outline=None)
        for r, cells in enumerate([headers, *rows]):
            base = top + r * row_h + round(row_h * 0.72)
            for i, cell in enumerate(cells):
                if not cell:
                    continue
                style = self.fit(self.bold if r == 0 else self.body, cell,
                                 xs[i + 1] - xs[i] - 2 * pad)
                if i in right_aligned:
                    self.c.text(xs[i + 1] - pad, base, cell, style, align="right",
                                label="question" if r == 0 else "answer")
                else:
                    self.c.text(xs[i] + pad, base, cell, style,
                                label="question" if r == 0 else "answer")
        bottom = top + row_h * (len(rows) + 1)
        for r in range(len(rows) + 2):
            self.c.hline(xs[0], xs[-1], top + r * row_h)
        for x in xs:
            self.c.vline(x, top, bottom)
        self.lines += len(rows) + 1
        self.y = bottom + round(self.lead * 1.2)

    def footer(self, text: str) -> None:
        style = self.fit(self.small, text, self.width)
        self.c.text(self.left, self.c.height - self.c.mm(10), text, style)
        self.lines += 1


def _new_canvas(spec: DocSpec) -> tuple[Canvas, FontFamily]:
    w, h = paper_size_px(spec.paper, spec.dpi)
    return Canvas(w, h, spec.dpi), family(spec.font_family)


def _claim_form(spec: DocSpec, rng: random.Random) -> RenderedPage:
    fake = FakeData(rng, spec.lang, latin1_only=True)
    L = LABELS[spec.lang]
    canvas, fam = _new_canvas(spec)
    f = Flow(canvas, spec, fam, rng)
    insurer, holder, address = fake.insurer(), fake.person_name(), fake.address()
    loss_date = fake.date()
    place = fake.city()
    claim_no, policy_no = fake.claim_number(loss_date.year), fake.policy_number()

    f.line(f.left, insurer, Style(fam.bold, round(f.size * 1.5)), label="header")
    f.newline(0.2)
    f.line(f.left, L["claim_title"], Style(fam.bold, round(f.size * 1.2)), label="header")
    f.fields([(L["claim_no"], claim_no)], columns=1)
    f.newline(0.4)
    f.heading(L["s_holder"])
    f.fields([(L["name"], holder), (L["policy_no"], policy_no)], columns=2)
    f.fields([(L["address"], address.one_line())], columns=1)
    f.fields([(L["phone"], fake.phone()), (L["email"], fake.email(holder))], columns=2)
    f.newline(0.3)
    f.heading(L["s_incident"])
    loss_time = f"{rng.randint(6, 22):02d}:{rng.choice((0, 15, 30, 45)):02d}"
    f.fields([(L["loss_date"], format_date(loss_date, spec.lang)), (L["place"], place),
              (L["plate"], fake.plate()), (L["time"], loss_time)], columns=2)
    incident = rng.randrange(len(INCIDENTS))
    loss_type, item_choices = INCIDENTS[incident]
    f.checkboxes(L["loss_type"], LOSS_TYPES[spec.lang], loss_type)
    f.line(f.left, L["description"], f.body, label="question")
    desc = DESCRIPTIONS[spec.lang][incident].format(place=place,
                                                    date=format_date(loss_date, spec.lang))
    f.paragraph(desc, f.value, indent=f.size)
    f.newline(0.3)
    if f.fits(7):
        f.heading(L["s_items"])
        n_items = rng.randint(1, min(4, len(item_choices)))
        items = [DAMAGE_ITEMS[i] for i in rng.sample(item_choices, n_items)]
        rows, total = [], Money(0)
        for en, de, lo, hi in items:
            qty = rng.randint(1, 3)
            unit = fake.amount(lo, hi)
            amount = Money(unit.cents * qty)
            total = total + amount
            rows.append([en if spec.lang == "en" else de, str(qty), unit.format(spec.lang),
                         amount.format(spec.lang)])
        rows.append([L["total"], "", "", total.format(spec.lang)])
        f.table([L["item"], L["qty"], L["unit"], L["amount"]], rows, [0.46, 0.1, 0.22, 0.22],
                {1, 2, 3})
    if f.fits(4):
        f.heading(L["s_bank"])
        f.fields([(L["iban"], fake.iban()), (L["holder"], holder)], columns=1)
    if f.fits(4):
        f.newline(0.3)
        f.paragraph(L["declaration"], f.small)
        f.newline(0.8)
        signed = format_date(loss_date + timedelta(days=rng.randint(0, 9)), spec.lang)
        f.c.field(f.left, f.y, L["place_date"], f"{place}, {signed}", f.body, f.value)
        sig_x = f.left + f.width * 0.58
        f.text(sig_x, L["signature"], f.body, label="question")
        sx = sig_x + f.c.text_width(L["signature"] + " ", f.body)
        f.c.signature((sx + f.size, f.y - f.size * 1.6, f.right, f.y + f.size * 0.2), rng)
        f.c.hline(sx, f.right, f.y + f.size * 0.3)
        f.lines += 1
    f.footer(f"{L['form']} KS-{rng.randint(10, 99)}/{loss_date.year}  {L['page']} 1 {L['of']} 1")
    meta = {"claim_number": claim_no, "policy_number": policy_no, "name": holder}
    return _finish(canvas, spec, rng, meta)


def _policy_schedule(spec: DocSpec, rng: random.Random) -> RenderedPage:
    fake = FakeData(rng, spec.lang, latin1_only=True)
    L = LABELS[spec.lang]
    canvas, fam = _new_canvas(spec)
    f = Flow(canvas, spec, fam, rng)
    insurer, holder, address = fake.insurer(), fake.person_name(), fake.address()
    ins_address = fake.address()
    start = fake.date()
    end = start.replace(year=start.year + 1) - timedelta(days=1) if not (
        start.month == 2 and start.day == 29) else start + timedelta(days=364)
    policy_no = fake.policy_number(start.year)
    plate = fake.plate()

    f.line(f.left, insurer, Style(fam.bold, round(f.size * 1.5)), label="header")
    f.line(f.left, f"{ins_address.one_line()} | {fake.phone()}", f.small)
    f.newline(0.5)
    f.line(f.left, L["schedule_title"], Style(fam.bold, round(f.size * 1.35)), label="header")
    f.newline(0.3)
    period = f"{format_date(start, spec.lang)} {L['to']} {format_date(end, spec.lang)}"
    obj = rng.choice(INSURED_OBJECTS[spec.lang]).format(plate=plate, street=address.street)
    f.fields([(L["policy_no"], policy_no), (L["policyholder"], holder),
              (L["address"], address.one_line()),
              (L["period"], period),
              (L["insured_object"], obj), (L["payment"], L["payment_value"])], columns=1)
    f.newline(0.5)
    covers = rng.sample(COVERAGES, rng.randint(3, 6))
    rows, total = [], Money(0)
    for en, de in covers:
        insured = Money(rng.choice((5_000, 10_000, 50_000, 100_000, 1_000_000)) * 100)
        deductible = Money(rng.choice((0, 150, 300, 500, 1000)) * 100)
        premium = fake.amount(20, 600)
        total = total + premium
        rows.append([en if spec.lang == "en" else de, insured.format(spec.lang),
                     deductible.format(spec.lang), premium.format(spec.lang)])
    rows.append([L["total_premium"], "", "", total.format(spec.lang)])
    f.table([L["cover"], L["sum_insured"], L["deductible"], L["premium"]], rows,
            [0.34, 0.24, 0.2, 0.22], {1, 2, 3})
    for note in SCHEDULE_NOTES[spec.lang]:
        f.paragraph(note, f.small)
        f.newline(0.3)
    if f.fits(3):
        f.newline(0.5)
        f.c.signature((f.left, f.y - f.size * 0.5, f.left + f.width * 0.3, f.y + f.lead), rng)
        f.newline(1.8)
        f.line(f.left, f"{insurer}", f.small)
    f.footer(f"{L['policy']} {policy_no}  {L['page']} 1 {L['of']} 1")
    meta = {"policy_number": policy_no, "name": holder}
    return _finish(canvas, spec, rng, meta)


def _letter(spec: DocSpec, rng: random.Random) -> RenderedPage:
    fake = FakeData(rng, spec.lang, latin1_only=True)
    L = LABELS[spec.lang]
    canvas, fam = _new_canvas(spec)
    f = Flow(canvas, spec, fam, rng)
    insurer, ins_address, holder, address = (fake.insurer(), fake.address(), fake.person_name(),
                                             fake.address())
    sent = fake.date()
    claim_no, policy_no, phone = fake.claim_number(sent.year), fake.policy_number(), fake.phone()
    values = {
        "date": format_date(sent - timedelta(days=rng.randint(3, 20)), spec.lang),
        "claim": claim_no, "policy": policy_no, "phone": phone,
        "amount": fake.amount(200, 8000).format(spec.lang),
        "deductible": Money(rng.choice((150, 300, 500)) * 100).format(spec.lang),
        "premium": fake.amount(150, 1500).format(spec.lang),
        "renewal": format_date(sent + timedelta(days=rng.randint(20, 60)), spec.lang),
        "iban_tail": fake.iban().replace(" ", "")[-4:],
    }
    # sender block, top right
    sender = [(insurer, f.bold), *((t, f.small) for t in (*ins_address.lines, phone))]
    sx = min(f.left + f.width * 0.58, f.right - max(f.c.text_width(t, st) for t, st in sender))
    f.line(sx, insurer, f.bold, label="header")
    for text in (*ins_address.lines, phone):
        f.line(sx, text, f.small)
    f.newline(1.0)
    # recipient block (window envelope position)
    for text in (holder, *address.lines):
        f.line(f.left, text, f.body)
    f.newline(1.0)
    f.line(f.right, format_date(sent, spec.lang), f.body, align="right")
    f.newline(0.5)
    subject = rng.choice(LETTER_SUBJECTS[spec.lang])
    f.line(f.left, f"{subject}", f.bold, label="header")
    f.line(f.left, f"{L['your_claim']} {claim_no} | {L['policy']} {policy_no}", f.body)
    f.fields([(L["reference"], fake.reference("SB"))], columns=1)
    f.newline(0.5)
    if spec.lang == "de":
        f.line(f.left, L["dear"], f.body)
    else:
        f.line(f.left, f"{L['dear']} {holder},", f.body)
    f.newline(0.4)
    paragraphs = rng.sample(LETTER_PARAGRAPHS[spec.lang], rng.randint(2, 4))
    for i, par in enumerate(paragraphs):
        text = par.format(**values)
        if spec.lang == "de" and i > 0:
            text = text[0].upper() + text[1:]
        if not f.fits(len(f.c.wrap(text, f.body, f.width)) + 5):
            break
        f.paragraph(text)
        f.newline(0.5)
    if f.fits(4):
        f.line(f.left, L["regards"], f.body)
        f.c.signature((f.left, f.y - f.size * 0.5, f.left + f.width * 0.25, f.y + f.lead), rng)
        f.newline(1.8)
        f.line(f.left, fake.person_name(), f.body)
        f.line(f.left, f"{L['claims_team']}, {insurer}", f.small)
    footer = L["registered"].format(city=ins_address.city, no=rng.randint(10_000, 99_999),
                                    vat=rng.randint(100_000_000, 999_999_999))
    f.footer(footer)
    meta = {"claim_number": claim_no, "policy_number": policy_no, "name": holder}
    return _finish(canvas, spec, rng, meta)


def _id_card(spec: DocSpec, rng: random.Random) -> RenderedPage:
    fake = FakeData(rng, spec.lang, latin1_only=True)
    labels = ID_LABELS[spec.lang]
    fam = family(spec.font_family)
    w, h = paper_size_px("ID-1", spec.dpi)
    tint = rng.choice(ACCENTS)
    canvas = Canvas(w, h, spec.dpi, background=tint)
    c = canvas
    band = round(h * 0.2)
    c.rect((0, 0, w, band), fill=(40, 70, 120), outline=None)
    title_text = f"{labels[0]} SPECIMEN"
    title = Style(fam.bold, round(h * 0.085), (250, 250, 250))
    while c.text_width(title_text, title) > w - c.mm(8):
        title = Style(title.font, title.size_px - 2, title.color)
    c.text(c.mm(4), band * 0.7, title_text, title, label="header")
    c.photo_placeholder((c.mm(4), band + c.mm(3), c.mm(27), h - c.mm(5)), rng)
    first, last = fake.person_name().split(" ", 1)
    born = fake.date()
    born = born.replace(year=rng.randint(1950, 2004))
    expiry = fake.date().replace(year=rng.randint(2027, 2034))
    nationality = "DEU" if spec.lang == "de" else "GBR"
    fields = [
        (labels[1], last.upper()), (labels[2], first),
        (labels[3], format_date(born, spec.lang)), (labels[4], nationality),
        (labels[5], f"{rng.choice('LTCX')}{rng.randint(10_000_000, 99_999_999)}"),
        (labels[6], format_date(expiry, spec.lang)),
    ]
    label_style = Style(fam.regular, pt_to_px(5.5, spec.dpi), (60, 60, 80))
    value_style = Style(fam.bold, pt_to_px(8, spec.dpi))
    x0 = c.mm(31)
    step = (h - band - c.mm(6)) / 3
    for i, (label, value) in enumerate(fields):
        col, row = i % 2, i // 2
        x = x0 + col * c.mm(27)
        base = band + c.mm(2) + row * step + label_style.size_px
        q = c.text(x, base, label, label_style, label="question")
        a = c.text(x, base + value_style.size_px * 1.25, value, value_style, label="answer")
        c.link(q, a)
    meta = {"name": f"{first} {last}"}
    return _finish(canvas, spec, rng, meta)


def _invoice(spec: DocSpec, rng: random.Random) -> RenderedPage:
    """A repairer's invoice to a policyholder or insurer: items, labour, VAT, payment."""
    fake = FakeData(rng, spec.lang, latin1_only=True)
    L = INVOICE_LABELS[spec.lang]
    canvas, fam = _new_canvas(spec)
    f = Flow(canvas, spec, fam, rng)
    repairer, own_address, customer = rng.choice(REPAIRERS), fake.address(), fake.person_name()
    issued = fake.date()
    invoice_no = f"{rng.choice(('RE', 'INV', 'R'))}-{issued.year}-{rng.randint(100, 99_999)}"
    claim_no, vat = fake.claim_number(issued.year), 19 if spec.lang == "de" else 20

    f.line(f.left, repairer, Style(fam.bold, round(f.size * 1.45)), label="header")
    f.line(f.left, f"{own_address.one_line()} | {fake.phone()}", f.small)
    f.newline(0.6)
    for text in (customer, *fake.address().lines):
        f.line(f.left, text, f.body)
    f.newline(0.5)
    f.line(f.left, L["title"], Style(fam.bold, round(f.size * 1.35)), label="header")
    f.fields([(L["invoice_no"], invoice_no), (L["invoice_date"], format_date(issued, spec.lang)),
              (L["claim_ref"], claim_no), (L["plate"], fake.plate())], columns=2)
    f.newline(0.4)
    items = [DAMAGE_ITEMS[i] for i in rng.sample(range(len(DAMAGE_ITEMS)), rng.randint(2, 6))]
    rows, net = [], Money(0)
    for pos, (en, de, lo, hi) in enumerate(items, 1):
        qty = rng.randint(1, 4)
        unit = fake.amount(lo, hi)
        amount = Money(unit.cents * qty)
        net = net + amount
        rows.append([str(pos), en if spec.lang == "en" else de, str(qty),
                     unit.format(spec.lang), amount.format(spec.lang)])
    hours, rate = rng.randint(1, 12), fake.amount(45, 120)
    labour = Money(rate.cents * hours)
    net = net + labour
    rows.append([str(len(rows) + 1), L["labour"], str(hours), rate.format(spec.lang),
                 labour.format(spec.lang)])
    tax = Money(round(net.cents * vat / 100))
    rows += [["", L["net"], "", "", net.format(spec.lang)],
             ["", L["vat"].format(rate=vat), "", "", tax.format(spec.lang)],
             ["", L["total"], "", "", (net + tax).format(spec.lang)]]
    if f.fits(len(rows) + 2):
        f.table([L["pos"], L["description"], L["qty"], L["unit"], L["amount"]], rows,
                [0.07, 0.43, 0.08, 0.2, 0.22], {0, 2, 3, 4})
    if f.fits(2):
        f.checkboxes(L["payment"], (L["paid"], L["insurer"], L["account"]), rng.randrange(3))
    days = rng.choice((7, 14, 30))
    if f.fits(4):
        f.fields([(L["due"], format_date(issued + timedelta(days=days), spec.lang)),
                  (L["bank"], fake.iban())], columns=1)
        f.newline(0.3)
        f.paragraph(L["terms"].format(days=days), f.small)
    f.footer(f"{repairer} | {own_address.one_line()}")
    meta = {"invoice_number": invoice_no, "claim_number": claim_no, "name": customer}
    return _finish(canvas, spec, rng, meta)


def _table(spec: DocSpec, rng: random.Random) -> RenderedPage:
    """A claims bordereau: one ruled table of claims filling the page, with totals."""
    fake = FakeData(rng, spec.lang, latin1_only=True)
    L = TABLE_LABELS[spec.lang]
    canvas, fam = _new_canvas(spec)
    f = Flow(canvas, spec, fam, rng)
    insurer = fake.insurer()
    start = fake.date()
    f.line(f.left, insurer, Style(fam.bold, round(f.size * 1.4)), label="header")
    f.line(f.left, f"{L['title']} {start.year}", Style(fam.bold, round(f.size * 1.2)),
           label="header")
    end = start + timedelta(days=rng.choice((30, 91, 182)))
    f.fields([(L["period"], f"{format_date(start, spec.lang)} - {format_date(end, spec.lang)}"),
              (L["broker"], rng.choice(BROKERS))], columns=1)
    f.newline(0.4)
    room = max(2, int((f.bottom - f.lead - f.y) / round(f.lead * 1.15)) - 3)
    n = min(room, rng.randint(6, 30), f.spec.max_lines - f.lines - 3)
    f.body = Style(fam.regular, max(6, round(f.size * 0.9)))  # seven columns: smaller cells
    reserve_total, paid_total = Money(0), Money(0)
    rows = []
    for _ in range(max(1, n)):
        d = start + timedelta(days=rng.randint(0, (end - start).days))
        status = rng.randrange(len(CLAIM_STATUSES[spec.lang]))
        reserve = fake.amount(0, 20_000) if status in (0, 2, 3) else Money(0)
        paid = fake.amount(100, 15_000) if status in (1, 4) else Money(0)
        reserve_total, paid_total = reserve_total + reserve, paid_total + paid
        rows.append([fake.claim_number(d.year), format_date(d, spec.lang), fake.person_name(),
                     rng.choice(LOSS_TYPES[spec.lang]), CLAIM_STATUSES[spec.lang][status],
                     reserve.format(spec.lang)[:-4], paid.format(spec.lang)[:-4]])
    rows.append([L["total"], "", "", "", "", reserve_total.format(spec.lang)[:-4],
                 paid_total.format(spec.lang)[:-4]])
    f.table([L["claim"], L["date"], L["holder"], L["type"], L["status"], L["reserve"],
             L["paid"]], rows, [0.19, 0.13, 0.2, 0.12, 0.12, 0.12, 0.12], {5, 6})
    if f.fits(1):
        f.paragraph(L["note"], f.small)
    f.footer(f"{insurer} | {L['title']} | {format_date(end, spec.lang)}")
    return _finish(canvas, spec, rng, {"name": insurer})


def _finish(canvas: Canvas, spec: DocSpec, rng: random.Random,
            meta: dict[str, str]) -> RenderedPage:
    """The page, with the rubber stamp the spec asks for (drawn last, from the same
    generator, so pages without one are unchanged)."""
    if spec.stamp:
        fam = family(spec.font_family)
        lines = rng.choice(STAMPS[spec.lang])
        when = format_date(FakeData(rng, spec.lang).date(), spec.lang)
        size = pt_to_px(rng.uniform(11, 16), spec.dpi)
        style = Style(rng.choice((fam.bold, "sans-bold", "mono-bold")), size,
                      rng.choice(STAMP_INKS))
        canvas.stamp([line.format(date=when) for line in lines], style, rng.uniform(-14, 14),
                     rng, opacity=rng.uniform(0.55, 0.9))
    return RenderedPage(canvas.pixels(), canvas.truth(), spec, meta)


BUILDERS = {
    "claim_form": _claim_form,
    "policy_schedule": _policy_schedule,
    "letter": _letter,
    "id_card": _id_card,
    "invoice": _invoice,
    "table": _table,
}


def render_document(spec: DocSpec, seed: int | random.Random) -> RenderedPage:
    """Draw a clean page of ``spec.kind``; the content is a pure function of the seed."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    try:
        builder = BUILDERS[spec.kind]
    except KeyError:
        raise ValueError(f"unknown document kind {spec.kind!r}; choose from {KINDS}") from None
    return builder(spec, rng)


def random_spec(rng: random.Random, *, kinds: tuple[str, ...] = KINDS[:3], dpi: int = 150,
                body_pt: tuple[float, float] = (10.0, 12.0), max_lines: int = 60) -> DocSpec:
    """A varied spec: kind, language, paper, font family and a body size in ``body_pt``."""
    kind = rng.choice(kinds)
    lang = rng.choice(("en", "de"))
    paper = "Letter" if rng.random() < 0.2 else "A4"
    fam = rng.choice(("dejavu-sans", "dejavu-sans", "dejavu-serif", "stix", "dejavu-mono"))
    size = round(rng.uniform(*body_pt) * 2) / 2
    return DocSpec(kind, lang, paper, fam, size, dpi, max_lines)


# pages per kind in training data: ID cards are small and few
TRAINING_KIND_WEIGHTS = {"claim_form": 3, "policy_schedule": 2, "letter": 2, "id_card": 1,
                         "invoice": 3, "table": 2}


def training_spec(rng: random.Random, *, dpis: tuple[int, ...] = (150, 200),
                  body_pt: tuple[float, float] = (9.0, 12.0)) -> DocSpec:
    """A spec for training data: any kind, any installed print family, values filled in by
    hand on a third of the forms (where a handwriting face is installed), a stamp on a third
    of the pages."""
    kinds = list(TRAINING_KIND_WEIGHTS)
    kind = rng.choices(kinds, weights=[TRAINING_KIND_WEIGHTS[k] for k in kinds])[0]
    lang = rng.choice(("en", "de"))
    paper = "Letter" if rng.random() < 0.2 else "A4"
    fam = rng.choice(print_families()).name
    size = round(rng.uniform(*body_pt) * 2) / 2
    hands = handwriting_families()
    u_hand, hand = rng.random(), rng.choice(hands).name if hands else ""
    hand_font = hand if kind in ("claim_form", "invoice") and u_hand < 0.35 else ""
    stamp = kind != "id_card" and rng.random() < 0.35
    return DocSpec(kind, lang, paper, fam, size, rng.choice(dpis), 60, hand_font, stamp)
