"""The recognizer's classes while fine-tuning: the pretrained ones kept, new ones appended.

Users of the open OCR stacks lose all accuracy when a new character set resets the output
layer. Here the pretrained rows (the Latin head) stay exactly as they are; each new character
gets one new row before the final space class, initialised from the mean of the existing rows
with the lowest existing bias, so it starts out rarely chosen and the old characters' logits
do not change at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from ocr_tasks.engine.models.recognizer import TextRecognizer

SPACE = " "


def extended_charset(base: Sequence[str], texts: Iterable[str]) -> list[str]:
    """``base`` (blank first, space last) with the characters of ``texts`` it lacks added
    before the space, in order of first appearance (deterministic for the same texts)."""
    known = set(base)
    added: list[str] = []
    for text in texts:
        for ch in text:
            if ch not in known and not ch.isspace():
                known.add(ch)
                added.append(ch)
    return [*base[:-1], *added, base[-1]]


def extend_recognizer(model: TextRecognizer, old: Sequence[str], new: Sequence[str]) -> None:
    """Grow ``model``'s output layer from charset ``old`` to ``new`` (which starts with
    ``old`` minus its space, and ends with the space), keeping every old row."""
    if list(new[: len(old) - 1]) != list(old[:-1]) or new[-1] != old[-1]:
        raise ValueError("the new charset must extend the old one (same order, space last)")
    added = len(new) - len(old)
    if added == 0:
        return
    fc = model.head.fc
    weight, bias = fc.weight.detach(), fc.bias.detach()
    grown = nn.Linear(fc.in_features, len(new), device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        keep = len(old) - 1
        grown.weight[:keep] = weight[:keep]
        grown.bias[:keep] = bias[:keep]
        grown.weight[keep : keep + added] = weight[1:keep].mean(0)
        grown.bias[keep : keep + added] = bias[1:keep].min()
        grown.weight[-1] = weight[-1]
        grown.bias[-1] = bias[-1]
    model.head.fc = grown
