"""The dataset card: what a dataset holds, where it came from and how it is split, as JSON.

Counts are given for the whole set, per source and per split; the character histogram
(non-whitespace characters of the reference text, most frequent first) shows the charset a
model trained or scored on it meets. The card is a pure function of the pages, so writing it
twice gives the same bytes.
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
        items = list(pages)
        return cls(
            pages=sum(p.kind == "page" for p in items),
            crops=sum(p.kind == "crop" for p in items),
            documents=len({p.document for p in items}),
            words=sum(len(p.truth.counted_words) for p in items),
            dontcare_words=sum(len(p.truth.dontcare_words) for p in items),
            characters=sum(len("".join(p.text.split())) for p in items),
        )

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

    def to_dict(self) -> dict[str, Any]:
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
        }


def character_histogram(pages: Iterable[LabelledPage]) -> dict[str, int]:
    """Non-whitespace characters of the reference text, most frequent first (ties by code
    point, so the order is stable)."""
    counts = Counter(ch for p in pages for ch in p.text if not ch.isspace())
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def build_card(dataset: Dataset, name: str) -> DatasetCard:
    pages = dataset.pages
    sources = sorted({p.source for p in pages})
    return DatasetCard(
        name=name,
        totals=Counts.of(pages),
        sources={s: Counts.of(p for p in pages if p.source == s) for s in sources},
        splits={s: Counts.of(dataset.split(s)) for s in SPLITS},
        fractions=dataset.fractions,
        characters=character_histogram(pages),
        problems=tuple(str(p) for p in dataset.problems),
    )


def write_card(card: DatasetCard, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(card.to_dict(), ensure_ascii=False, indent=1) + "\n",
                   encoding="utf-8")
    return out
