"""Lexical features for the head: character n-gram TF-IDF reduced by truncated SVD (LSA).

Sentence embeddings blur the surface words that separate close tags ("top-up reverted" vs
"top-up failed", "Apple Pay" vs "Google Pay"). ``CharLSA`` adds them back as a small dense block
that is appended to the embedding, so the head stays one linear layer and the feature matrix stays
``n x (384 + n_components)`` however large the vocabulary is. It is fitted on ticket text only
(no labels), and saved as plain arrays (vocabulary JSON + safetensors), never pickled.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

FEATURE_SETS = ("embedding", "embedding+char")


class CharLSA:
    """``fit(texts)`` then ``transform(texts) -> float32 (n, n_components)``, scaled by ``weight``."""

    def __init__(self, ngram_min: int = 3, ngram_max: int = 5, max_features: int = 4000, min_df: int = 3,
                 n_components: int = 256, weight: float = 0.5, fit_max_texts: int = 20000, seed: int = 0):
        self.params = {"ngram_min": ngram_min, "ngram_max": ngram_max, "max_features": max_features,
                       "min_df": min_df, "n_components": n_components, "weight": weight,
                       "fit_max_texts": fit_max_texts, "seed": seed}
        self._vec = None
        self.components_: np.ndarray | None = None

    def _vectorizer(self, vocabulary=None, min_df=None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        p = self.params
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(p["ngram_min"], p["ngram_max"]), lowercase=True,
                               sublinear_tf=True, max_features=None if vocabulary else p["max_features"],
                               min_df=min_df if min_df is not None else p["min_df"], vocabulary=vocabulary,
                               dtype=np.float32)

    def fit(self, texts: Sequence[str]) -> "CharLSA":
        from sklearn.decomposition import TruncatedSVD

        texts = list(texts)
        if not texts:
            raise ValueError("CharLSA.fit needs at least one text")
        p = self.params
        if len(texts) > p["fit_max_texts"]:  # a seeded sample keeps the fit's memory bounded
            rng = np.random.default_rng(p["seed"])
            texts = [texts[i] for i in np.sort(rng.choice(len(texts), p["fit_max_texts"], replace=False))]
        # small corpora (tests, the demo's tiny configs) cannot afford min_df > 1
        vec = self._vectorizer(min_df=p["min_df"] if len(texts) >= 20 * p["min_df"] else 1)
        X = vec.fit_transform(texts)
        k = min(p["n_components"], X.shape[1] - 1, X.shape[0] - 1)
        if k < 1:
            raise ValueError(f"CharLSA.fit: {X.shape[1]} n-gram features are too few for an SVD")
        svd = TruncatedSVD(n_components=k, random_state=p["seed"]).fit(X)
        self._vec, self.components_ = vec, svd.components_.astype(np.float32)
        return self

    @property
    def dim(self) -> int:
        return 0 if self.components_ is None else int(self.components_.shape[0])

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        if self._vec is None:
            raise RuntimeError("CharLSA is not fitted")
        X = self._vec.transform(list(texts))
        return np.asarray(X @ self.components_.T, dtype=np.float32) * np.float32(self.params["weight"])

    def save(self, out: str | Path) -> Path:
        from safetensors.numpy import save_file

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        vocab = {term: int(i) for term, i in self._vec.vocabulary_.items()}
        (out / "lexical.json").write_text(json.dumps({"params": self.params, "vocabulary": vocab}, ensure_ascii=False))
        save_file({"idf": np.ascontiguousarray(self._vec.idf_, dtype=np.float32),
                   "components": np.ascontiguousarray(self.components_)}, str(out / "lexical.safetensors"))
        return out

    @classmethod
    def load(cls, path: str | Path) -> "CharLSA":
        from safetensors.numpy import load_file

        path = Path(path)
        meta = json.loads((path / "lexical.json").read_text())
        arrays = load_file(str(path / "lexical.safetensors"))
        self = cls(**meta["params"])
        vocab = meta["vocabulary"]
        if arrays["idf"].shape[0] != len(vocab) or arrays["components"].shape[1] != len(vocab):
            raise ValueError(f"{path}: lexical vocabulary ({len(vocab)}) does not match its arrays")
        self._vec = self._vectorizer(vocabulary=vocab, min_df=1)
        self._vec.idf_ = arrays["idf"]
        self.components_ = arrays["components"]
        return self


def head_features(emb: np.ndarray, lex: np.ndarray | None) -> np.ndarray:
    """The head's input: the embedding, with the lexical block appended when there is one."""
    return emb if lex is None else np.hstack([emb, lex]).astype(np.float32, copy=False)
