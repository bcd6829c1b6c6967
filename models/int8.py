"""int8 inference for the encoder's Linear layers, deterministic per ticket.

:class:`Int8Linear` runs an int8 x int8 -> int32 matmul (``torch._int_mm``) with per-output-channel
weight scales and per-token activation scales. Each token's scale depends only on that token,
not on the other tickets in its batch or shard. torch's ``quantize_dynamic`` shares one activation
scale per batch instead: on Banking77 it changed 54 of 3,080 tags when the tickets were tagged in
shards of 500. The fp32 parts of the encoder (attention, LayerNorm) are bit-stable because
``models.encoder.embed_texts`` pads each ticket to its own length bucket, so with this layer the
sharded tags are bit-identical to one pass (``benchmarks/run.py`` measures both).
"""
from __future__ import annotations

import copy

import torch


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
