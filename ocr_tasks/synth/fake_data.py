"""Deterministic fake insurance data: every value comes from one ``random.Random``.

No global random state is touched, so the same seed yields the same people, policies and
amounts in any process and in any order of calls made on other generators.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import date, timedelta

FIRST_NAMES = (
    "Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Emma", "Paul", "Lena", "Maximilian",
    "Hannah", "Leon", "Clara", "Elias", "Mia", "Noah", "Olivia", "James", "Charlotte", "Oliver",
    "Amelia", "George", "Isabella", "Thomas", "Sarah", "Daniel", "Laura", "Michael", "Julia",
    "Jürgen", "Zoë", "Renée", "Björn", "Ayşe", "Mehmet", "Katarzyna", "Piotr", "Giulia", "Marco",
)
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann",
    "Schäfer", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Braun", "Zimmermann",
    "Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thompson", "Walker",
    "Robinson", "Nowak", "Kowalski", "Rossi", "Bianchi", "Yılmaz", "Dubois", "Lefèvre", "García",
)
STREETS_DE = (
    "Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schillerstraße", "Goethestraße",
    "Am Markt", "Bergstraße", "Kirchgasse", "Rosenweg", "Mühlenweg", "Hafenstraße",
)
CITIES_DE = (
    ("10115", "Berlin"), ("20095", "Hamburg"), ("80331", "München"), ("50667", "Köln"),
    ("60311", "Frankfurt am Main"), ("70173", "Stuttgart"), ("04109", "Leipzig"),
    ("28195", "Bremen"), ("90402", "Nürnberg"), ("01067", "Dresden"),
)
STREETS_EN = (
    "High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "Park Avenue",
    "Queen Street", "Harbour Road", "Elm Grove", "King's Road", "Orchard Close", "Bridge Street",
)
CITIES_EN = (
    ("EC1A 1BB", "London"), ("M1 1AE", "Manchester"), ("B1 1BB", "Birmingham"),
    ("LS1 4AP", "Leeds"), ("BS1 4DJ", "Bristol"), ("EH1 1YZ", "Edinburgh"), ("CF10 1EP", "Cardiff"),
)
INSURERS = (
    "Nordlicht Versicherung AG", "Harbour Mutual Insurance plc", "Alpenblick Assekuranz AG",
    "Meridian General Insurance Ltd", "Rheinland Sachversicherung AG", "Lighthouse Assurance plc",
    "Hanseatic Indemnity AG", "Greenfield Mutual Ltd", "Auroris Versicherungsgruppe",
    "Blue Ridge Insurance Company",
)
PLATE_DISTRICTS = ("B", "HH", "M", "K", "F", "S", "L", "HB", "N", "DD", "KA", "MZ")


@dataclass(frozen=True)
class Address:
    """A postal address as printed: street line, city line, optional country line."""

    street: str
    city: str
    country: str = ""

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(v for v in (self.street, self.city, self.country) if v)

    def one_line(self) -> str:
        return ", ".join(self.lines)


@dataclass(frozen=True)
class Money:
    """An amount in minor units (cents) so formatting never suffers from float rounding."""

    cents: int
    currency: str = "EUR"

    def format(self, lang: str = "en") -> str:
        whole, frac = divmod(abs(self.cents), 100)
        sign = "-" if self.cents < 0 else ""
        if lang == "de":
            grouped = f"{whole:,}".replace(",", ".")
            return f"{sign}{grouped},{frac:02d} {self.currency}"
        return f"{sign}{whole:,}.{frac:02d} {self.currency}"

    def __add__(self, other: Money) -> Money:
        return Money(self.cents + other.cents, self.currency)


def format_date(d: date, lang: str = "en") -> str:
    return d.strftime("%d.%m.%Y") if lang == "de" else d.strftime("%d/%m/%Y")


def _latin1(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in names if n.isascii() or all(ord(c) < 256 for c in n))


def _iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits, so generated IBANs pass validators like real ones."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


class FakeData:
    """All fake values for one document, drawn in call order from a private generator."""

    def __init__(
        self, seed: int | random.Random, lang: str = "en", *, latin1_only: bool = False
    ) -> None:
        """``latin1_only`` drops names with rarer letters (ş, ı): canaries measure the engine
        on common text, not on glyphs a recognizer charset may lack."""
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.lang = lang
        self._first = _latin1(FIRST_NAMES) if latin1_only else FIRST_NAMES
        self._last = _latin1(LAST_NAMES) if latin1_only else LAST_NAMES

    def person_name(self) -> str:
        return f"{self.rng.choice(self._first)} {self.rng.choice(self._last)}"

    def address(self) -> Address:
        if self.lang == "de":
            postcode, city = self.rng.choice(CITIES_DE)
            street = f"{self.rng.choice(STREETS_DE)} {self.rng.randint(1, 160)}"
            return Address(street, f"{postcode} {city}")
        postcode, city = self.rng.choice(CITIES_EN)
        street = f"{self.rng.randint(1, 240)} {self.rng.choice(STREETS_EN)}"
        return Address(street, f"{city} {postcode}")

    def city(self) -> str:
        return self.rng.choice(CITIES_DE if self.lang == "de" else CITIES_EN)[1]

    def policy_number(self, year: int | None = None) -> str:
        return f"POL-{year or self.rng.randint(2018, 2026)}-{self.rng.randint(1, 999_999):06d}"

    def claim_number(self, year: int | None = None) -> str:
        return f"CLM-{year or self.rng.randint(2024, 2026)}-{self.rng.randint(1, 999_999):06d}"

    def date(self, start: date = date(2019, 1, 1), end: date = date(2026, 11, 24)) -> date:
        return start + timedelta(days=self.rng.randint(0, (end - start).days))

    def amount(self, low: float = 50.0, high: float = 5000.0, currency: str = "EUR") -> Money:
        return Money(self.rng.randint(int(low * 100), int(high * 100)), currency)

    def plate(self) -> str:
        if self.lang == "de":
            letters = "".join(self.rng.choices(string.ascii_uppercase, k=self.rng.randint(1, 2)))
            return f"{self.rng.choice(PLATE_DISTRICTS)}-{letters} {self.rng.randint(1, 9999)}"
        up = string.ascii_uppercase
        return (
            "".join(self.rng.choices(up, k=2)) + f"{self.rng.randint(10, 75)} "
            + "".join(self.rng.choices(up, k=3))
        )

    def phone(self) -> str:
        if self.lang == "de":
            area = self.rng.choice(("30", "40", "89", "221", "69", "711", "341"))
            return f"+49 {area} {self.rng.randint(100_000, 9_999_999)}"
        return f"+44 {self.rng.randint(1200, 7999)} {self.rng.randint(100_000, 999_999)}"

    def email(self, name: str | None = None) -> str:
        name = name or self.person_name()
        table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ë": "e", "é": "e",
                               "è": "e", "ç": "c", "ş": "s", "ı": "i", "í": "i"})
        local = ".".join(name.lower().translate(table).split())
        domain = self.rng.choice(("mail.example", "post.example", "inbox.example", "web.example"))
        return f"{local}@{domain}"

    def iban(self) -> str:
        country = "DE" if self.lang == "de" else "GB"
        if country == "DE":
            bban = "".join(str(self.rng.randint(0, 9)) for _ in range(18))
        else:
            bank = "".join(self.rng.choices(string.ascii_uppercase, k=4))
            bban = bank + "".join(str(self.rng.randint(0, 9)) for _ in range(14))
        raw = country + _iban_check_digits(country, bban) + bban
        return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))

    def insurer(self) -> str:
        return self.rng.choice(INSURERS)

    def reference(self, prefix: str = "REF") -> str:
        return f"{prefix}-{self.rng.randint(10_000, 99_999)}"
