"""The offline miner's exemplar LFs: mined from missed tickets, thresholded on the gating half, and
passed through the same gate as every other proposal."""
import numpy as np
import pandas as pd

from labeling_functions.apply import apply_lfs, compile_lfs
from labeling_functions.spec import LFSpec
from llm_rulegen.base import RoundContext, TagErrors
from llm_rulegen.gate import GateConfig, gate_lfs, spec_from_proposal
from llm_rulegen.miner import MinerProposer

TAGS = ["card_lost", "fee_charged", "transfer_failed"]


def _cluster(center: int, n: int, rng, spread: float = 0.08) -> np.ndarray:
    X = np.zeros((n, 8))
    X[:, center] = 1.0
    X += spread * rng.standard_normal((n, 8))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _context():
    rng = np.random.default_rng(0)
    # gating half: 4 card_lost, 3 fee_charged, 3 transfer_failed near their centres, plus one
    # transfer_failed ticket that sits among the fee tickets (an outlier no exemplar can serve)
    dev_emb = np.vstack([_cluster(0, 4, rng), _cluster(1, 3, rng), _cluster(2, 3, rng), _cluster(1, 1, rng)])
    dev = pd.DataFrame({"ticket_id": [f"d{i}" for i in range(11)],
                        "tag": ["card_lost"] * 4 + ["fee_charged"] * 3 + ["transfer_failed"] * 4})
    dev["text"] = [f"dev ticket {i} about {t}" for i, t in enumerate(dev["tag"])]
    pool_emb = np.vstack([_cluster(0, 30, rng), _cluster(1, 60, rng), _cluster(2, 60, rng)])
    pool = pd.DataFrame({"ticket_id": [f"p{i}" for i in range(150)], "text": [f"pool ticket {i}" for i in range(150)]})
    # weak labels: 20 of the card cluster say card_lost, 10 have none; the others are labelled right
    pseudo = np.array([0] * 20 + [-1] * 10 + [1] * 60 + [2] * 60)
    empty_fp = pd.DataFrame(columns=["ticket_id", "text", "gold", "lfs_fired"])

    def errors(tag, rows):
        fn = dev.loc[rows, ["ticket_id", "text"]].assign(predicted="fee_charged")
        return TagErrors(tag=tag, description=tag, dev_f1=0.5, false_negatives=fn.reset_index(drop=True),
                         false_positives=empty_fp, examples=dev[dev.tag == tag][["ticket_id", "text"]],
                         confusable=["fee_charged"])

    errs = {"card_lost": errors("card_lost", [0, 1]), "transfer_failed": errors("transfer_failed", [10])}
    ctx = RoundContext(round=2, tags=TAGS, descriptions={t: t for t in TAGS}, pool=pool, pool_pseudo=pseudo,
                       dev_gate=dev, lfs=[], lf_stats=pd.DataFrame(), errors=errs, pool_emb=pool_emb, dev_emb=dev_emb)
    lookup = dict(zip(dev["text"], dev_emb)) | dict(zip(pool["text"], pool_emb))
    return ctx, lookup


def test_miner_mines_exemplar_lfs_from_missed_tickets_and_the_gate_accepts_them():
    ctx, lookup = _context()
    items = MinerProposer(min_precision=0.75, min_support=2, max_coverage=0.3).propose(ctx).items
    ex = [i for i in items if i["kind"] == "exemplar"]
    # card_lost: its two missed tickets become exemplars; the stray transfer_failed ticket sits among
    # fee tickets, so no threshold makes it precise and the miner proposes nothing for it
    assert [i["tag"] for i in ex] == ["card_lost"]
    p = ex[0]
    assert p["id"] == "mine:card_lost:ex:r2" and p["params"]["exemplar_ids"] == ["d0", "d1"]
    assert p["params"]["texts"] == ctx.dev_gate["text"][:2].tolist()
    assert p["motivating_tickets"] == ["d0", "d1"] and "leave-one-out" in p["rationale"]
    assert 0.5 <= p["params"]["threshold"] <= 0.95

    def embed(texts):
        return np.stack([lookup[t] for t in texts])

    spec = spec_from_proposal(p, "miner:miner-v1", {"round": 2})
    res = gate_lfs([spec], TAGS, ctx.pool, ctx.dev_gate, [], {}, GateConfig(min_precision=0.75, min_support=2),
                   embed=embed, pool_emb=ctx.pool_emb, dev_emb=ctx.dev_emb)
    assert [s.id for s in res.accepted] == [p["id"]], res.rejected
    st = res.stats[p["id"]]
    # leave-one-out: d0 and d1 support each other, d2 and d3 are the other card tickets; nothing else fires
    assert st["dev_hits"] == 4 and st["dev_correct"] == 4 and st["pool_hits"] == 30
    votes = apply_lfs(ctx.pool, compile_lfs([LFSpec.model_validate(spec)], TAGS, embed=embed), ctx.pool_emb)[:, 0]
    assert (votes[:30] == 0).all() and (votes[30:] == -1).all()


def test_miner_exemplars_respect_coverage_agreement_and_can_be_switched_off():
    ctx, _ = _context()
    # the card cluster is 30 of 150 pool tickets: a 0.1 coverage cap leaves no admissible threshold
    assert not [i for i in MinerProposer(max_coverage=0.1).propose(ctx).items if i["kind"] == "exemplar"]
    # when the pool's weak labels in that neighbourhood all say another tag, the exemplar is not proposed
    ctx.pool_pseudo = np.where(ctx.pool_pseudo == 0, 1, ctx.pool_pseudo)
    assert not [i for i in MinerProposer(max_coverage=0.3).propose(ctx).items if i["kind"] == "exemplar"]
    ctx2, _ = _context()
    assert not [i for i in MinerProposer(max_coverage=0.3, exemplars=False).propose(ctx2).items
                if i["kind"] == "exemplar"]
    ctx2.pool_emb = None  # a round without embeddings (e.g. a context built for the LLM backend)
    assert not [i for i in MinerProposer(max_coverage=0.3).propose(ctx2).items if i["kind"] == "exemplar"]
