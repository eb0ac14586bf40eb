"""Moving the weights of the PaddleOCR ONNX files onto our modules.

The graphs are walked in node order and every weight tensor is taken the first time a node
consumes it, whether it is an initializer (detector, recognizer) or the output of a Constant
node (direction classifier). Our modules register their parameters in that same order, so
the two sequences are zipped and every pair is shape-checked. Any mismatch or leftover on
either side raises :class:`ModelError`: a silently half-loaded network would still produce
plausible-looking garbage.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from onnx import numpy_helper
from torch import nn

from ocr_tasks.core.errors import ModelError
from ocr_tasks.engine.models.catalog import load_onnx

# Constant and Identity only produce or rename tensors; Resize's constant inputs (roi,
# scales) configure the op instead of weighing anything.
NO_WEIGHT_OPS = frozenset({"Constant", "Identity", "Resize"})


@dataclass(frozen=True)
class OnnxTensor:
    name: str
    value: np.ndarray


@dataclass(frozen=True)
class Slot:
    """A parameter or float buffer of our module waiting for an ONNX tensor."""

    name: str
    tensor: torch.Tensor
    transposed: bool  # nn.Linear stores (out, in); ONNX MatMul weights are (in, out)


def _is_weight(value: np.ndarray) -> bool:
    """Scalars and one-element vectors are hyperparameters baked into the graph (GELU's
    sqrt(2), LayerNorm epsilons, the attention scale); integer tensors are shapes and
    indices."""
    return np.issubdtype(value.dtype, np.floating) and (value.ndim > 1 or value.size > 1)


@dataclass(frozen=True)
class OnnxContents:
    weights: tuple[OnnxTensor, ...]


@functools.cache
def _read(path: Path) -> OnnxContents:
    """Parse an ONNX file once per process; the arrays are read-only because they are shared."""
    model = load_onnx(path)
    graph = model.graph
    tensors = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    aliases: dict[str, str] = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            tensors[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity":
            aliases[node.output[0]] = aliases.get(node.input[0], node.input[0])
    taken: dict[str, OnnxTensor] = {}
    for node in graph.node:
        if node.op_type in NO_WEIGHT_OPS:
            continue
        for name in node.input:
            name = aliases.get(name, name)
            if name in taken or name not in tensors or not _is_weight(tensors[name]):
                continue
            value = tensors[name]
            value.flags.writeable = False
            taken[name] = OnnxTensor(name, value)
    return OnnxContents(tuple(taken.values()))


def read_weights(path: Path) -> tuple[OnnxTensor, ...]:
    """The weight tensors of an ONNX file in the order the graph consumes them."""
    return _read(path).weights


def weight_slots(module: nn.Module) -> Iterator[Slot]:
    """Parameters and float buffers (BatchNorm statistics) in registration order.

    This is ``state_dict`` order: per module its own parameters, then its own buffers, then
    its children depth-first. Integer buffers (BatchNorm's batch counter) are skipped.
    """
    for module_name, child in module.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for name, param in child.named_parameters(recurse=False):
            transposed = isinstance(child, nn.Linear) and name == "weight"
            yield Slot(prefix + name, param, transposed)
        for name, buffer in child.named_buffers(recurse=False):
            if buffer.is_floating_point():
                yield Slot(prefix + name, buffer, False)


def _is_channel_vector(shape: tuple[int, ...]) -> bool:
    """(1, C, 1, 1): a per-channel vector shaped to broadcast over NCHW."""
    return len(shape) == 4 and shape[0] == shape[2] == shape[3] == 1


def _fit(slot: Slot, tensor: OnnxTensor, source: str) -> np.ndarray:
    """The ONNX tensor in the slot's layout, or ModelError."""
    value = tensor.value
    if slot.transposed and value.ndim == 2:
        value = value.T
    elif slot.tensor.ndim == 1 and _is_channel_vector(value.shape):
        value = value.reshape(-1)  # a folded bias, stored for a broadcasting Add
    if tuple(value.shape) != tuple(slot.tensor.shape):
        raise ModelError(
            f"{source}: ONNX tensor {tensor.name!r} of shape {tuple(tensor.value.shape)} does "
            f"not fit parameter {slot.name!r} of shape {tuple(slot.tensor.shape)}; "
            "the module no longer matches the graph"
        )
    return value


def assign_weights(module: nn.Module, tensors: Sequence[OnnxTensor], source: str) -> None:
    """Copy ``tensors`` onto ``module``'s parameters and buffers, in order, shape-checked."""
    slots = list(weight_slots(module))
    with torch.no_grad():
        for slot, tensor in zip(slots, tensors, strict=False):
            value = _fit(slot, tensor, source)
            slot.tensor.copy_(torch.tensor(value, dtype=slot.tensor.dtype))
    if len(tensors) > len(slots):
        extra = tensors[len(slots)]
        raise ModelError(
            f"{source}: {len(tensors) - len(slots)} ONNX tensors left over, first "
            f"{extra.name!r} of shape {tuple(extra.value.shape)}; the module lacks layers"
        )
    if len(slots) > len(tensors):
        missing = slots[len(tensors)]
        raise ModelError(
            f"{source}: {len(slots) - len(tensors)} parameters got no ONNX tensor, first "
            f"{missing.name!r}; the module has layers the graph lacks"
        )
