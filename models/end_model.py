"""End-model training on probabilistic labels and the saved, self-contained model directory.

Two modes:

- ``frozen``: MiniLM-L6 embeddings (mean-pooled, normalized) stay fixed; a linear softmax head is
  fit on soft labels by full-batch L-BFGS on ``mean_i w_i * CE(p_i, softmax(W x_i + b)) + l2/2 ||W||^2``.
- ``finetune``: the encoder and the head are trained together with soft-label cross-entropy
  (AdamW, linear warm-up and decay), starting from the frozen-mode head (linear probe, then
  fine-tune), which is more stable than a fresh head.

A model directory holds ``encoder/`` (weights + tokenizer), ``head.safetensors``,
``model_config.json`` (tags, mode, max_length, the ingest rendering settings) and is all that
``tagger tag`` needs.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from models.encoder import PRECISIONS, embed_texts, load_encoder, package_model_path, pool


@dataclass
class ModelInfo:
    tags: list[str]
    mode: str
    max_length: int
    mask_pii: bool = True
    speakers: list[str] = field(default_factory=lambda: ["customer", "operator"])
    max_chars: int = 20000
    created_at: str = ""
    run_name: str = ""
    format_version: int = 1
    features: str = "embedding"  # or "embedding+char": char n-gram LSA appended (models/lexical.py)
    lf_boost: float = 0.0  # logit bonus of the tags whose carried text LFs (rules.yaml) fire on a ticket
    encoder: str = "packaged MiniLM-L6"  # which encoder it was trained with (a copy is in encoder/)
    pooling: str = "mean"  # how that encoder's tokens become one vector: mean or cls


def soft_cross_entropy(logits, targets, weights=None):
    import torch

    logp = torch.log_softmax(logits, dim=-1)
    loss = -(targets * logp).sum(-1)
    if weights is not None:
        return (loss * weights).sum() / weights.sum()
    return loss.mean()


def train_head(X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None = None, l2: float = 1e-5,
               max_iter: int = 500, seed: int = 0,
               init: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fit a linear softmax head on soft labels ``Y`` (rows sum to 1). Returns ``(W (k,d), b (k,))``.
    ``init`` warm-starts L-BFGS from an earlier ``(W, b)`` (the loss is convex, so only the number of
    iterations to the same optimum changes)."""
    import torch

    torch.manual_seed(seed)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    Yt = torch.as_tensor(Y, dtype=torch.float32)
    wt = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    k, d = Y.shape[1], X.shape[1]
    if init is None:
        W, b = torch.zeros(k, d, requires_grad=True), torch.zeros(k, requires_grad=True)
    else:
        W = torch.tensor(np.asarray(init[0], dtype=np.float32), requires_grad=True)
        b = torch.tensor(np.asarray(init[1], dtype=np.float32), requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, history_size=20, tolerance_grad=1e-6,
                            tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = soft_cross_entropy(Xt @ W.T + b, Yt, wt) + 0.5 * l2 * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach().numpy().copy(), b.detach().numpy().copy()


def head_proba(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = X @ W.T + b
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def lf_boosted(P: np.ndarray, votes: np.ndarray | None, alpha: float) -> np.ndarray:
    """``softmax(log P + alpha * votes)``: the head's probabilities with each tag's LF votes (``votes``:
    tickets x tags, 1 where a text LF of the tag fired) added as a logit bonus; ``alpha = 0`` is ``P``."""
    if not alpha or votes is None:
        return P
    Z = np.log(np.clip(P, 1e-12, None)) + alpha * votes
    Z -= Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return (E / E.sum(axis=1, keepdims=True)).astype(np.float32)


def _classifier(encoder, k: int, W: np.ndarray | None, b: np.ndarray | None, pooling: str = "mean"):
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, k)
            if W is not None:
                with torch.no_grad():
                    self.head.weight.copy_(torch.as_tensor(W))
                    self.head.bias.copy_(torch.as_tensor(b))

        def forward(self, input_ids, attention_mask, **kw):
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
            return self.head(pool(h, attention_mask, pooling))

    return Classifier()


def finetune(texts: Sequence[str], Y: np.ndarray, weights: np.ndarray | None, init_W: np.ndarray, init_b: np.ndarray,
             max_length: int = 128, epochs: int = 2, lr: float = 3e-5, batch_size: int = 32,
             warmup_ratio: float = 0.06, weight_decay: float = 0.01, seed: int = 0, progress: bool = True,
             encoder_path: str | Path | None = None, pooling: str = "mean"):
    """Fine-tune the encoder (MiniLM, or the one at ``encoder_path``) + head on soft labels; returns
    ``(tokenizer, classifier)``."""
    import torch

    from data.progress import progress as progress_bar

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok, enc = load_encoder(encoder_path)
    model = _classifier(enc, Y.shape[1], init_W, init_b, pooling)
    model.train()
    texts = list(texts)
    w = np.ones(len(texts), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
    # length-bucketed batches (sorted chunks of 50 batches, shuffled) keep padding small
    steps_per_epoch = math.ceil(len(texts) / batch_size)
    total = steps_per_epoch * epochs
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warm = max(1, int(total * warmup_ratio))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    lengths = np.array([len(t) for t in texts])
    step = 0
    for ep in range(epochs):
        perm = rng.permutation(len(texts))
        chunks = [perm[i:i + batch_size * 50] for i in range(0, len(perm), batch_size * 50)]
        batches = []
        for c in chunks:
            c = c[np.argsort(lengths[c], kind="stable")]
            batches += [c[i:i + batch_size] for i in range(0, len(c), batch_size)]
        rng.shuffle(batches)
        ep_loss: list[float] = []
        for idx in progress_bar(batches, f"finetune epoch {ep + 1}/{epochs} (batches)", enabled=progress):
            encd = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                       return_tensors="pt")
            logits = model(encd["input_ids"], encd["attention_mask"])
            loss = soft_cross_entropy(logits, torch.as_tensor(Y[idx], dtype=torch.float32),
                                      torch.as_tensor(w[idx]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            ep_loss.append(loss.item())
        logging.getLogger("tagger").info("finetune epoch %d/%d: mean loss %.4f", ep + 1, epochs, float(np.mean(ep_loss)))
    model.eval()
    return tok, model


class TaggerModel:
    """A trained tagger: encoder + linear head + tag list. ``predict_proba(texts)``; ``save``/``load``."""

    def __init__(self, info: ModelInfo, W: np.ndarray, b: np.ndarray, encoder_dir: Path | None = None,
                 tok=None, encoder=None, precision: str = "fp32", lexical=None, rules=()):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        from models.lexical import FEATURE_SETS

        if info.features not in FEATURE_SETS:
            raise ValueError(f"unknown head features {info.features!r} (one of {FEATURE_SETS})")
        if (info.features == "embedding+char") != (lexical is not None):
            raise ValueError(f"features={info.features!r} needs {'a' if lexical is None else 'no'} lexical block")
        if info.lf_boost and not rules:
            raise ValueError("lf_boost needs the text LFs (rules) the model applies to new tickets")
        self.info, self.W, self.b, self.lexical, self.rules = info, W, b, lexical, list(rules)
        self.encoder_dir = encoder_dir
        self.precision = precision
        self._tok, self._enc = tok, encoder
        self._fast = None

    @property
    def tags(self) -> list[str]:
        return self.info.tags

    def _tm(self):
        if self._enc is None:
            self._tok, self._enc = load_encoder(self.encoder_dir)
        return self._tok, self._enc

    def _inference_encoder(self):
        tok, enc = self._tm()
        from models.int8 import effective_precision

        if effective_precision(self.precision) == "fp32":
            return tok, enc
        if self._fast is None:
            from models.int8 import quantize_linear_layers

            self._fast = quantize_linear_layers(enc)
        return tok, self._fast

    def embed(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        tok, enc = self._inference_encoder()
        return embed_texts(texts, tok, enc, self.info.max_length, batch_size, progress, self.info.pooling)

    def head_input(self, texts: Sequence[str], emb: np.ndarray) -> np.ndarray:
        """The head's features for ``texts`` given their embeddings (lexical block appended if any)."""
        from models.lexical import head_features

        return head_features(emb, None if self.lexical is None else self.lexical.transform(texts))

    def proba(self, texts: Sequence[str], emb: np.ndarray) -> np.ndarray:
        """Tag probabilities of ``texts`` given their embeddings: the head, plus the LF-vote bonus when
        the model carries text LFs (``info.lf_boost``)."""
        P = head_proba(self.head_input(texts, emb), self.W, self.b)
        if not self.info.lf_boost:
            return P
        from labeling_functions.votes import text_votes

        return lf_boosted(P, text_votes(texts, self.rules, self.tags), self.info.lf_boost)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return self.proba(texts, self.embed(texts, batch_size, progress))

    def save(self, out: str | Path) -> Path:
        from data.atomic import atomic_dir

        with atomic_dir(out) as tmp:  # the old model stays loadable until the new one is complete
            self._write(tmp)
        return Path(out)

    def _write(self, out: Path) -> None:
        from safetensors.numpy import save_file

        enc_dir = out / "encoder"
        if self._enc is None and self.encoder_dir is not None:
            shutil.copytree(self.encoder_dir, enc_dir)
        else:
            tok, enc = self._tm()
            enc.save_pretrained(enc_dir)
            tok.save_pretrained(enc_dir)
        save_file({"weight": np.ascontiguousarray(self.W, dtype=np.float32),
                   "bias": np.ascontiguousarray(self.b, dtype=np.float32)}, str(out / "head.safetensors"))
        if self.lexical is not None:
            self.lexical.save(out / "lexical")
        if self.rules:
            from labeling_functions.spec import dump_specs

            dump_specs(self.rules, out / "rules.yaml")
        self.info.created_at = self.info.created_at or time.strftime("%Y-%m-%dT%H:%M:%S")
        (out / "model_config.json").write_text(json.dumps(asdict(self.info), indent=2))

    @classmethod
    def load(cls, path: str | Path, precision: str = "fp32") -> "TaggerModel":
        """A saved model; ``precision="int8"`` tags with the int8-quantized encoder (the fast path)."""
        from safetensors.numpy import load_file

        path = Path(path)
        cfg_file = path / "model_config.json"
        if not cfg_file.exists():
            raise FileNotFoundError(f"{path} is not a tagger model directory (no model_config.json)")
        info = ModelInfo(**json.loads(cfg_file.read_text()))
        head = load_file(str(path / "head.safetensors"))
        if head["weight"].shape[0] != len(info.tags):
            raise ValueError(f"{path}: head has {head['weight'].shape[0]} outputs but {len(info.tags)} tags")
        lexical = None
        if info.features == "embedding+char":
            from models.lexical import CharLSA

            lexical = CharLSA.load(path / "lexical")
        rules = []
        if (path / "rules.yaml").exists():
            from labeling_functions.spec import load_specs

            rules = load_specs(path / "rules.yaml")
        return cls(info, head["weight"], head["bias"], encoder_dir=path / "encoder", precision=precision,
                   lexical=lexical, rules=rules)


def frozen_model(info: ModelInfo, W: np.ndarray, b: np.ndarray, lexical=None, rules=(),
                 encoder_dir: str | Path | None = None) -> TaggerModel:
    """A frozen-mode model: the encoder (``encoder_dir``, default the packaged MiniLM; copied into the model
    directory on save, so ``tagger tag`` needs nothing else) plus the head, the lexical block when the head
    was trained on ``embedding+char`` features, and the text LFs of an LF-vote bonus."""
    return TaggerModel(info, W, b, encoder_dir=Path(encoder_dir) if encoder_dir else package_model_path(),
                       lexical=lexical, rules=rules)


def finetuned_model(info: ModelInfo, tok, classifier, rules=()) -> TaggerModel:
    W = classifier.head.weight.detach().numpy().copy()
    b = classifier.head.bias.detach().numpy().copy()
    return TaggerModel(info, W, b, tok=tok, encoder=classifier.encoder, rules=rules)
