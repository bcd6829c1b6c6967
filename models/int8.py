"""int8 inference for the encoder's Linear layers, deterministic per ticket.

:class:`Int8Linear` runs an int8 x int8 -> int32 matmul (``torch._int_mm``) with per-output-channel
weight scales and per-token activation scales. Each token's scale depends only on that token,
not on the other tickets in its batch or shard. torch's ``quantize_dynamic`` shares one activation
scale per batch instead: on Banking77 it changed 54 of 3,080 tags when the tickets were tagged in
shards of 500. The fp32 parts of the encoder (attention, LayerNorm) are bit-stable because
``models.encoder.embed_texts`` pads each ticket to its own length bucket, so with this layer the
sharded tags are bit-identical to one pass (``benchmarks/run.py`` measures both). It pays only on a
CPU with int8 dot-product instructions (:func:`fast_int8`); elsewhere int8 requests run in fp32.
"""
from __future__ import annotations

import copy
import functools
import logging
from pathlib import Path

import torch

INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # CPU features behind a fast int8 matmul
log = logging.getLogger("models.int8")


@functools.cache
def fast_int8(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has int8 dot-product instructions (VNNI or AMX). Without them ``torch._int_mm``
    runs a slow path: on an AVX2-only machine here a (512 x 384) x (384 x 1536) int8 product took 0.72 s
    against 0.04 s in fp32, and embedding 640 tickets did not finish in 10 minutes against 18 s in fp32."""
    try:
        flags = set(Path(cpuinfo).read_text().split())
    except OSError:
        return False
    return any(f in flags for f in INT8_FLAGS)


def effective_precision(precision: str) -> str:
    """``precision``, except that int8 becomes fp32 (with a warning, once) on a CPU without int8
    dot-product instructions, where it would be many times slower."""
    if precision == "int8" and not fast_int8():
        _warn_slow_int8()
        return "fp32"
    return precision


@functools.cache
def _warn_slow_int8() -> None:
    log.warning("this CPU has no int8 dot-product instructions (%s): the int8 path would be many times slower "
                "than fp32 here, so the encoder runs in fp32", "/".join(INT8_FLAGS))


class Int8Linear(torch.nn.Module):
    def __init__(self, wq: torch.Tensor, w_scale: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.register_buffer("wq", wq)  # (in, out) int8, contiguous, as _int_mm wants it
        self.register_buffer("w_scale", w_scale)  # (out,)
        self.register_buffer("bias", bias)  # (out,)
        self.in_features, self.out_features = wq.shape

    @classmethod
    def from_linear(cls, lin: torch.nn.Linear) -> "Int8Linear":
        W = lin.weight.detach().float()
        s = W.abs().amax(dim=1).clamp(min=1e-8) / 127
        wq = (W / s[:, None]).round().clamp(-127, 127).to(torch.int8).t().contiguous()
        bias = lin.bias.detach().float() if lin.bias is not None else torch.zeros(W.shape[0])
        return cls(wq, s, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, self.in_features).float()
        s = x2.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127
        xq = (x2 / s).round_().clamp_(-127, 127).to(torch.int8)
        y = torch._int_mm(xq, self.wq).float() * s * self.w_scale + self.bias
        return y.reshape(*shape[:-1], self.out_features)


def quantize_linear_layers(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``model`` with every ``nn.Linear`` replaced by an :class:`Int8Linear`."""
    model = copy.deepcopy(model)

    def swap(module: torch.nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, torch.nn.Linear):
                setattr(module, name, Int8Linear.from_linear(child))
            else:
                swap(child)

    swap(model)
    if not any(isinstance(m, Int8Linear) for m in model.modules()):
        raise ValueError(f"{type(model).__name__} has no torch.nn.Linear layers for the int8 path to quantize; "
                         "tag with --precision fp32 (precision: fp32)")
    return model
