"""``miner``: the offline, deterministic proposer (in the spirit of Snuba/Reef).

For each tag that still has errors on the gating half of gold_dev, it mines phrases that
discriminate the tag: word n-grams (1-3) and ordered word pairs (a regex ``\\bw1\\b.{0,40}\\bw2\\b``)
taken from the tag's missed tickets (all of its gold examples in round 0). A candidate must be
precise on the gating half, must fire on the pool, and must mostly agree with the pool's current
weak labels; candidates are ranked by smoothed dev precision x missed tickets fixed x log pool
coverage.

When the round gives it embeddings, it also mines one **exemplar** LF per tag from the tag's missed
tickets: those tickets become the exemplars (with their ids, so none ever matches itself) and the
similarity threshold is the lowest on a grid at which the exemplars are precise on the rest of
the gating half, fire on the pool within the coverage cap, and mostly agree with the pool's weak
labels where it has one. The fixed exemplar LF of a tag has one threshold for all its gold
examples; this one lets the tickets the model still misses reach their own neighbourhood.

It emits ordinary keyword / regex / exemplar specs, which then pass the same gate as LLM proposals.
"""
from __future__ import annotations

import re

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from labeling_functions.apply import NOT_WORD, WORD_CHARS, exemplar_similarity, keyword_char
from llm_rulegen.base import Proposal, RoundContext

_SLUG = re.compile(r"[\W_]+")  # Unicode word characters stay: Cyrillic words keep distinct ids
_DOMAIN_STOP = {"customer", "operator", "hi", "hello", "thanks", "thank", "please", "help", "card_", "email",
                "phone", "iban", "account_", "ok", "sure"}


def near_pattern(first: str, second: str, window: int) -> str:
    """RE2 text: the word ``first``, then ``second`` within ``window`` characters on the same line.

    ASCII words keep the ``\\b`` form, byte for byte the pattern this miner always wrote (cheap for
    RE2, and ``re.escape`` of ASCII text is valid RE2). Other words get Unicode word boundaries, since
    RE2's ``\\b`` is ASCII-only and never fires next to a Cyrillic letter: there the gap holds
    1..window characters, the first and last of them not word characters, as ``\\b`` would demand."""
    if (first + second).isascii():
        return rf"\b{re.escape(first)}\b[^\n]{{0,{window}}}\b{re.escape(second)}\b"
    a, b = ("".join(map(keyword_char, w)) for w in (first, second))
    edge = f"[^{WORD_CHARS}\\n]"
    gap = f"{edge}(?:[^\\n]{{0,{max(window - 2, 0)}}}{edge})?"
    return f"(?:^|{NOT_WORD}){a}{gap}{b}(?:{NOT_WORD}|$)"


def _slug(s: str) -> str:
    return _SLUG.sub("_", s.lower()).strip("_")[:40]


class MinerProposer:
    name = "miner"
    model = "miner-v1"

    def __init__(self, min_precision: float = 0.75, min_support: int = 2, min_pool_hits: int = 3,
                 min_pool_agreement: float = 0.3, max_coverage: float = 0.2, window: int = 40,
                 exemplars: bool = True, thresholds: tuple[float, ...] = tuple(np.round(np.arange(0.5, 0.951, 0.025), 3)),
                 max_exemplars: int = 5):
        self.min_precision, self.min_support = min_precision, min_support
        self.min_pool_hits, self.min_pool_agreement = min_pool_hits, min_pool_agreement
        self.max_coverage, self.window = max_coverage, window
        self.exemplars, self.thresholds, self.max_exemplars = exemplars, sorted(thresholds), max_exemplars
        self._fitted_on: int | None = None

    def _fit(self, ctx: RoundContext) -> None:
        key = id(ctx.pool)
        if self._fitted_on == key:
            return
        self.vec = CountVectorizer(lowercase=True, token_pattern=r"(?u)\b[^\W\d_][\w']*\b", ngram_range=(1, 3),
                                   min_df=self.min_pool_hits, binary=True, dtype=np.int8)
        self.Xp = self.vec.fit_transform(ctx.pool["text"]).tocsc()
        self.vocab = np.array(self.vec.get_feature_names_out(), dtype=object)
        self.pool_df = np.asarray(self.Xp.sum(axis=0)).ravel()
        self.n_words = np.array([v.count(" ") + 1 for v in self.vocab])
        stop = ENGLISH_STOP_WORDS | _DOMAIN_STOP
        self.all_stop = np.array([all(w in stop for w in v.split()) for v in self.vocab])
        self._fitted_on = key

    def propose(self, ctx: RoundContext) -> Proposal:
        self._fit(ctx)
        index = {t: i for i, t in enumerate(ctx.tags)}
        Xd = self.vec.transform(ctx.dev_gate["text"]).tocsc()
        yd = ctx.dev_gate["tag"].map(index).to_numpy()
        n_pool = self.Xp.shape[0]
        existing_phrases: dict[str, set[str]] = {}
        for s in ctx.lfs:
            if s.kind == "keyword":
                existing_phrases.setdefault(s.tag, set()).update(p.lower() for p in s.params.any + s.params.all)
            elif s.kind == "regex":
                existing_phrases.setdefault(s.tag, set()).add(s.params.pattern)
        items: list[dict] = []
        for tag, err in ctx.errors.items():
            t = index[tag]
            focus = err.false_negatives if len(err.false_negatives) else err.examples
            if not len(focus):
                continue
            Xf = self.vec.transform(focus["text"]).tocsc()
            cand = np.flatnonzero(np.asarray(Xf.sum(axis=0)).ravel() > 0)
            cand = cand[~self.all_stop[cand]]
            if not len(cand):
                continue
            is_t = yd == t
            hits = np.asarray(Xd[:, cand].sum(axis=0)).ravel()
            correct = np.asarray(Xd[is_t][:, cand].sum(axis=0)).ravel()
            fn_cov = np.asarray(Xf[:, cand].sum(axis=0)).ravel()
            pool_hits = self.pool_df[cand]
            pool_agree = np.asarray(self.Xp[ctx.pool_pseudo == t][:, cand].sum(axis=0)).ravel()
            prec = correct / np.maximum(hits, 1)
            ok = ((correct >= self.min_support) & (prec >= self.min_precision)
                  & (pool_hits >= self.min_pool_hits) & (pool_hits <= self.max_coverage * n_pool)
                  & (pool_agree >= self.min_pool_agreement * pool_hits))
            score = (correct + 1) / (hits + 2) * (1 + fn_cov) * np.log1p(pool_hits) * (1 + 0.1 * self.n_words[cand])
            order = [i for i in np.argsort(-score, kind="stable") if ok[i]]
            taken = set(existing_phrases.get(tag, set()))
            n_kw = 0
            for i in order:
                phrase = self.vocab[cand[i]]
                if any(phrase in p or p in phrase for p in taken):
                    continue
                if f"mine:{_slug(tag)}:kw:{_slug(phrase)}" in ctx.rejected_ids:
                    continue
                motivating = focus["ticket_id"][Xf[:, cand[i]].toarray().ravel() > 0].tolist()[:5]
                items.append({
                    "action": "add", "id": f"mine:{_slug(tag)}:kw:{_slug(phrase)}", "tag": tag, "kind": "keyword",
                    "params": {"any": [phrase]},
                    "rationale": (f"'{phrase}' occurs in {int(fn_cov[i])} missed '{tag}' tickets; gating-dev precision "
                                  f"{correct[i]}/{hits[i]}, {int(pool_hits[i])} pool hits, "
                                  f"{int(pool_agree[i])} agree with current weak labels."),
                    "motivating_tickets": motivating})
                taken.add(phrase)
                n_kw += 1
                if n_kw >= ctx.max_new_per_tag:
                    break
            pair = self._best_pair(tag, t, cand, Xf, Xd, yd, ctx, focus, taken)
            if pair:
                items.append(pair)
        if self.exemplars and ctx.pool_emb is not None and ctx.dev_emb is not None:
            # converted and indexed once per round, shared by every tag
            emb = {"dev": np.asarray(ctx.dev_emb, dtype=np.float64), "pool": np.asarray(ctx.pool_emb, dtype=np.float64),
                   "dev_pos": {x: i for i, x in enumerate(ctx.dev_gate["ticket_id"])},
                   "pool_pos": {x: i for i, x in enumerate(ctx.pool["ticket_id"])}}
            for tag, err in ctx.errors.items():
                ex = self._exemplar(tag, index[tag], err, yd, ctx, emb)
                if ex:
                    items.append(ex)
        return Proposal(items=items, usage={"requests": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                            "cost_usd": 0.0})

    def _best_pair(self, tag, t, cand, Xf, Xd, yd, ctx, focus, taken):
        uni = [c for c in cand if self.n_words[c] == 1]
        if len(uni) < 2:
            return None
        uni = np.array(uni)
        is_t = yd == t
        # the 12 unigrams most specific to the tag on the gating half
        c_t = np.asarray(Xd[is_t][:, uni].sum(axis=0)).ravel()
        h = np.asarray(Xd[:, uni].sum(axis=0)).ravel()
        top = uni[np.argsort(-(c_t + 1) / (h + 2) * np.log1p(c_t), kind="stable")[:12]]
        best, best_score = None, 0.0
        D = Xd[:, top].toarray().astype(bool)
        F = Xf[:, top].toarray().astype(bool)
        P = self.Xp[:, top]
        for a in range(len(top)):
            for b in range(a + 1, len(top)):
                dh = D[:, a] & D[:, b]
                n, c = int(dh.sum()), int((dh & is_t).sum())
                if c < self.min_support or c / max(n, 1) < self.min_precision:
                    continue
                fn = int((F[:, a] & F[:, b]).sum())
                ph = int(P[:, a].multiply(P[:, b]).sum())
                if ph < self.min_pool_hits:
                    continue
                sc = (c + 1) / (n + 2) * (1 + fn) * np.log1p(ph)
                if sc > best_score:
                    best, best_score = (top[a], top[b], c, n, ph, fn), sc
        if best is None:
            return None
        a, b, c, n, ph, fn = best
        wa, wb = self.vocab[a], self.vocab[b]
        pattern = f"{near_pattern(wa, wb, self.window)}|{near_pattern(wb, wa, self.window)}"
        if pattern in taken or f"mine:{_slug(tag)}:re:{_slug(wa)}_{_slug(wb)}" in ctx.rejected_ids:
            return None
        return {"action": "add", "id": f"mine:{_slug(tag)}:re:{_slug(wa)}_{_slug(wb)}", "tag": tag, "kind": "regex",
                "params": {"pattern": pattern},
                "rationale": (f"'{wa}' and '{wb}' near each other on one line: {fn} missed '{tag}' tickets, "
                              f"gating-dev precision {c}/{n} (as co-occurrence), {ph} pool tickets."),
                "motivating_tickets": focus["ticket_id"][(F[:, list(top).index(a)] & F[:, list(top).index(b)])].tolist()[:5]}

    def _exemplar(self, tag, t, err, yd, ctx, emb):
        """One exemplar LF from the tag's missed gating-half tickets, or None (see the module doc)."""
        fn = err.false_negatives
        if not len(fn):
            return None
        ids = ctx.dev_gate["ticket_id"].to_numpy()
        rows = np.flatnonzero(np.isin(ids, fn["ticket_id"].to_numpy()))[: self.max_exemplars]
        ex_emb, ex_ids = emb["dev"][rows], ids[rows]
        # the similarity the applier computes (leave-one-out included), so the gate measures the same thing
        best_d = exemplar_similarity(emb["dev"], emb["dev_pos"], ex_emb, ex_ids)
        best_p = exemplar_similarity(emb["pool"], emb["pool_pos"], ex_emb, ex_ids)
        n_pool = len(best_p)
        for th in self.thresholds:
            hit = best_d >= th
            n, c = int(hit.sum()), int((hit & (yd == t)).sum())
            if c < self.min_support or c / max(n, 1) < self.min_precision:
                continue
            ph = best_p >= th
            n_ph = int(ph.sum())
            if n_ph < self.min_pool_hits or n_ph > self.max_coverage * n_pool:
                continue
            labelled = ph & (ctx.pool_pseudo >= 0)
            agree = int((labelled & (ctx.pool_pseudo == t)).sum())
            if labelled.any() and agree < self.min_pool_agreement * int(labelled.sum()):
                continue
            return {"action": "add", "id": f"mine:{_slug(tag)}:ex:r{ctx.round}", "tag": tag, "kind": "exemplar",
                    "params": {"texts": ctx.dev_gate["text"].to_numpy()[rows].tolist(),
                               "exemplar_ids": [str(i) for i in ex_ids], "threshold": float(th)},
                    "rationale": (f"{len(rows)} missed '{tag}' tickets as exemplars at cosine >= {th:g}: gating-dev "
                                  f"precision {c}/{n} (leave-one-out), {n_ph} pool tickets, {agree} of the "
                                  f"{int(labelled.sum())} with a weak label agree."),
                    "motivating_tickets": [str(i) for i in ex_ids]}
        return None
