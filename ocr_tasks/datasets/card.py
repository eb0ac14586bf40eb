"""The dataset card: what a dataset holds, where it came from and how it is split, as JSON.

Counts are given for the whole set, per source and per split; the character histogram
(non-whitespace characters of the reference text, most frequent first) shows the charset a
model trained or scored on it meets. The card is a pure function of the pages, so writing it
twice gives the same bytes. ``CardTally`` counts pages one at a time, so a dataset written as
a stream (synthetic pages by the ten thousand) gets its card without holding its pages.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocr_tasks.datasets.model import SPLIT_SALT, SPLITS, Dataset, LabelledPage

CARD_FORMAT = "ocr-dataset-card/1"


@dataclass(frozen=True)
class Counts:
    pages: int = 0
    crops: int = 0
    documents: int = 0
    words: int = 0
    dontcare_words: int = 0
    characters: int = 0

    @classmethod
    def of(cls, pages: Iterable[LabelledPage]) -> Counts:
        tally = _Tally()
        for page in pages:
            tally.add(page)
        return tally.counts()

    def to_dict(self) -> dict[str, int]:
        return {"pages": self.pages, "crops": self.crops, "documents": self.documents,
                "words": self.words, "dontcare_words": self.dontcare_words,
                "characters": self.characters}


@dataclass(frozen=True)
class DatasetCard:
    name: str
    totals: Counts
    sources: dict[str, Counts]
    splits: dict[str, Counts]
    fractions: tuple[float, float, float]
    characters: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    generator: dict[str, Any] = field(default_factory=dict)  # how generated data was made

    def to_dict(self) -> dict[str, Any]:
        extra = {"generator": self.generator} if self.generator else {}
        return {
            "format": CARD_FORMAT,
            "name": self.name,
            "totals": self.totals.to_dict(),
            "sources": {s: c.to_dict() for s, c in self.sources.items()},
            "splits": {
                "rule": "sha256(salt NUL document) read as u in [0, 1) against the cumulative"
                        " fractions; document = sha256 of the document's bytes",
                "salt": SPLIT_SALT,
                "fractions": dict(zip(SPLITS, self.fractions, strict=True)),
                "counts": {s: c.to_dict() for s, c in self.splits.items()},
            },
            "characters": self.characters,
            "problems": list(self.problems),
            **extra,
        }


class _Tally:
    """Running ``Counts`` of one group of pages."""

    def __init__(self) -> None:
        self.n: Counter[str] = Counter()
        self.documents: set[str] = set()

    def add(self, page: LabelledPage) -> None:
        self.n["pages" if page.kind == "page" else "crops"] += 1
        self.documents.add(page.document)
        self.n["words"] += len(page.truth.counted_words)
        self.n["dontcare_words"] += len(page.truth.dontcare_words)
        self.n["characters"] += len("".join(page.text.split()))

    def counts(self) -> Counts:
        n = self.n
        return Counts(n["pages"], n["crops"], len(self.documents), n["words"],
                      n["dontcare_words"], n["characters"])


class CardTally:
    """A card built page by page: counts per source and split and the character histogram,
    without keeping the pages (only their document identities)."""

    def __init__(self) -> None:
        self._total = _Tally()
        self._sources: dict[str, _Tally] = {}
        self._splits = {s: _Tally() for s in SPLITS}
        self._chars: Counter[str] = Counter()

    def add(self, page: LabelledPage) -> LabelledPage:
        """Count ``page`` (which has its split); returns it, to tally a stream in passing."""
        self._total.add(page)
        self._sources.setdefault(page.source, _Tally()).add(page)
        if page.split in self._splits:
            self._splits[page.split].add(page)
        self._chars.update(ch for ch in page.text if not ch.isspace())
        return page

    def card(self, name: str, fractions: tuple[float, float, float],
             problems: Iterable[str] = (), generator: dict[str, Any] | None = None
             ) -> DatasetCard:
        return DatasetCard(
            name=name,
            totals=self._total.counts(),
            sources={s: self._sources[s].counts() for s in sorted(self._sources)},
            splits={s: t.counts() for s, t in self._splits.items()},
            fractions=fractions,
            characters=_most_frequent_first(self._chars),
            problems=tuple(problems),
            generator=dict(generator or {}),
        )


def character_histogram(pages: Iterable[LabelledPage]) -> dict[str, int]:
    """Non-whitespace characters of the reference text, most frequent first (ties by code
    point, so the order is stable)."""
    return _most_frequent_first(Counter(ch for p in pages for ch in p.text if not ch.isspace()))


def _most_frequent_first(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def build_card(dataset: Dataset, name: str) -> DatasetCard:
    tally = CardTally()
    for page in dataset.pages:
        tally.add(page)
    return tally.card(name, dataset.fractions, (str(p) for p in dataset.problems))


def write_card(card: DatasetCard, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(card.to_dict(), ensure_ascii=False, indent=1) + "\n",
                   encoding="utf-8")
    return out
