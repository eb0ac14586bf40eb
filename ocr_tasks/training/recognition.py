"""Recognizer fine-tuning: CTC on text crops, with the engine's own preprocessing.

Crops are resized and normalized by ``engine.postprocess.rec_batch`` (height 48, aspect
kept, right-padded with mid gray), exactly as at inference, and the loss only sees the time
steps the crop covers (the steps ``ctc_greedy_decode`` reads). A label CTC cannot align in
those steps (longer than the steps, counting a blank between repeated characters) is left
out and counted, as are crops wider than the width cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ocr_tasks.engine import postprocess as post
from ocr_tasks.training.data import TextCrop


@dataclass
class CropPool:
    """The usable crops, their labels as class indices, and what was left out and why."""

    crops: list[TextCrop] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    too_long: int = 0
    too_wide: int = 0

    def __len__(self) -> int:
        return len(self.crops)


def steps_needed(label: Sequence[int]) -> int:
    """Time steps CTC needs for ``label``: one per character plus a blank between repeats."""
    return len(label) + sum(1 for a, b in zip(label, label[1:], strict=False) if a == b)


def build_pool(crops: Sequence[TextCrop], charset: Sequence[str], max_width: int) -> CropPool:
    """Encode the crops' texts; skip (and count) the ones too wide or with labels longer
    than the recognizer's time steps."""
    index = {ch: i for i, ch in enumerate(charset)}
    pool = CropPool()
    for crop in crops:
        width = post.rec_width(crop.image)
        if width > max_width:
            pool.too_wide += 1
            continue
        label = [index[ch] for ch in crop.text if ch in index]
        if not label:
            continue
        if steps_needed(label) > int(np.ceil(width / post.REC_STRIDE)):
            pool.too_long += 1
            continue
        pool.crops.append(crop)
        pool.labels.append(label)
    return pool


def ctc_batch(
    pool: CropPool, picks: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images, concatenated targets, input lengths (covered steps) and target lengths."""
    batch, used = post.rec_batch([pool.crops[i].image for i in picks])
    labels = [pool.labels[i] for i in picks]
    steps = [int(np.ceil(w / post.REC_STRIDE)) for w in used]
    return (
        torch.from_numpy(batch),
        torch.tensor([c for label in labels for c in label], dtype=torch.long),
        torch.tensor(steps, dtype=torch.long),
        torch.tensor([len(label) for label in labels], dtype=torch.long),
    )


def ctc_loss(
    logits: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
) -> torch.Tensor:
    """Mean CTC loss per target character (blank = class 0), computed in float32."""
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0,
                      reduction="mean", zero_infinity=False)


def class_map(student: Sequence[str], teacher: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (in the student's charset, in the teacher's) of the classes both hold."""
    where = {c: i for i, c in enumerate(teacher)}
    pairs = [(j, where[c]) for j, c in enumerate(student) if c in where]
    return (torch.tensor([j for j, _ in pairs], dtype=torch.long),
            torch.tensor([i for _, i in pairs], dtype=torch.long))


def distill_loss(
    student_logits: torch.Tensor, teacher_probs: torch.Tensor,
    classes: tuple[torch.Tensor, torch.Tensor], input_lengths: torch.Tensor,
) -> torch.Tensor:
    """Mean per-frame KL(teacher || student) over the frames each crop covers.

    Both recognizers read the same input at the same stride, so frame t of one is frame t of
    the other. The teacher's probabilities are moved onto the student's classes (a class the
    teacher lacks gets none) and renormalized; padding frames count for nothing.
    """
    student_idx, teacher_idx = (c.to(student_logits.device) for c in classes)
    steps = min(student_logits.shape[1], teacher_probs.shape[1])
    log_p = F.log_softmax(student_logits[:, :steps].float(), dim=-1)
    target = torch.zeros_like(log_p)
    target[..., student_idx] = teacher_probs[:, :steps].float()[..., teacher_idx]
    target = target / target.sum(-1, keepdim=True).clamp_min(1e-8)
    kl = (target * (torch.log(target.clamp_min(1e-8)) - log_p)).sum(-1)
    frames = torch.arange(steps, device=kl.device)[None, :] < input_lengths[:, None].to(kl.device)
    return (kl * frames).sum() / frames.sum().clamp_min(1)

