import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from data.io import load_tickets
from labeling_functions.analysis import lf_summary
from labeling_functions.apply import Reference, apply_lfs, compile_lfs, to_snorkel_lfs, with_embeddings
from labeling_functions.builders import exemplar_lfs, neighbor_lfs, operator_lfs
from labeling_functions.spec import LFSpec, dump_specs, load_specs

TAGS = ["card_lost", "fee", "transfer"]


def kw(id, tag, **params):
    return LFSpec(id=id, tag=tag, kind="keyword", params=params)


def test_spec_validation_names_problems():
    with pytest.raises(ValidationError, match="regex does not compile"):
        LFSpec(id="r", tag="fee", kind="regex", params={"pattern": "(unclosed"})
    with pytest.raises(ValidationError, match="needs 'any' or 'all'"):
        LFSpec(id="k", tag="fee", kind="keyword", params={"exclude": ["x"]})
    with pytest.raises(ValidationError):
        LFSpec(id="k", tag="fee", kind="keyword", params={"any": ["x"], "unknown": 1})
    with pytest.raises(ValidationError):
        LFSpec(id="bad id", tag="fee", kind="keyword", params={"any": ["x"]})


def test_yaml_roundtrip(tmp_path):
    specs = [kw("k1", "fee", any=["fee", "charge"], exclude=["no fee"]),
             LFSpec(id="r1", tag="transfer", kind="regex", params={"pattern": r"transfer\w*\s+(failed|pending)"},
                    rationale="why", author="analyst", status="active", provenance={"round": 1})]
    dump_specs(specs, tmp_path / "lfs.yaml")
    back = load_specs(tmp_path)
    assert back == specs
    assert "rationale: why" in (tmp_path / "lfs.yaml").read_text()


def test_keyword_semantics_word_boundaries_case_all_exclude():
    df = pd.DataFrame({"ticket_id": list("abcdef"), "text": [
        "Why was I charged a FEE?", "feed the cat", "no fee please", "the transfer  failed today",
        "transfer ok", "fee and transfer"]})
    specs = [kw("any", "fee", any=["fee"], exclude=["no fee"]), kw("all", "transfer", all=["transfer", "failed"])]
    L = apply_lfs(df, compile_lfs(specs, TAGS))
    assert L[:, 0].tolist() == [1, -1, -1, -1, -1, 1]
    assert L[:, 1].tolist() == [-1, -1, -1, 2, -1, -1]


def _tiny(demo_dir, encoder):
    pool, _ = load_tickets(demo_dir / "gold_test.jsonl", label_column="tag")
    dev = pool.groupby("tag").head(2).reset_index(drop=True)
    return pool, dev, encoder(pool["text"].tolist()), encoder(dev["text"].tolist())


def test_fast_applier_matches_snorkel_pandas_applier(demo_dir, encoder):
    from snorkel.labeling import PandasLFApplier

    pool, dev, pool_emb, dev_emb = _tiny(demo_dir, encoder)
    tags = sorted(pool["tag"].unique())
    pool["operator_tag"] = pool["tag"].where(np.arange(len(pool)) % 5 != 0, tags[0])
    specs = operator_lfs(tags) + neighbor_lfs(tags, k=3, min_share=0.6)
    ex, _ = exemplar_lfs(dev, dev_emb, tags, [0.9, 0.8, 0.7, 0.6, 0.5], 0.5, 1)
    specs += ex
    specs += [kw("kw_fee", "fee_charged", any=["fee", "charge"], exclude=["refund"]),
              LFSpec(id="re_transfer", tag="transfer_failed", kind="regex", params={"pattern": r"transfer\w* (failed|fail)"}),
              LFSpec(id="meta_channel", tag="exchange_rate", kind="metadata", params={"field": "nope", "equals": "x"})]
    assert any(s.kind == "exemplar" for s in specs)
    compiled = compile_lfs(specs, tags, embed=encoder, reference=Reference(pool, pool_emb))
    L_fast = apply_lfs(pool, compiled, pool_emb)
    L_snorkel = PandasLFApplier(to_snorkel_lfs(compiled)).apply(with_embeddings(pool, pool_emb), progress_bar=False)
    assert L_fast.shape == L_snorkel.shape
    np.testing.assert_array_equal(L_fast, L_snorkel)
    fired = (L_fast != -1).any(axis=0)
    # the matrices are not trivially equal: every operator LF fires, the neighbour LFs of at least a third
    # of the tags (the hard demo dialogues of confusable tags are not clustered by tag), and the exemplar LFs
    assert fired[: len(tags)].all() and fired[len(tags): 2 * len(tags)].sum() >= len(tags) // 3
    assert {c.kind for c, f in zip(compiled, fired) if f} >= {"metadata", "neighbor", "exemplar"}


def test_dask_shard_path_matches_single_pass_and_snorkel_dask_applier(demo_dir, encoder):
    from snorkel.labeling.apply.dask import PandasParallelLFApplier

    import dask

    from labeling_functions.dask_apply import NO_STRING_CONVERSION, apply_lfs_sharded

    pool, dev, pool_emb, dev_emb = _tiny(demo_dir, encoder)
    tags = sorted(pool["tag"].unique())
    pool["operator_tag"] = pool["tag"].where(np.arange(len(pool)) % 5 != 0, tags[0])
    ex, _ = exemplar_lfs(dev, dev_emb, tags, [0.9, 0.8, 0.7, 0.6, 0.5], 0.5, 1)
    specs = operator_lfs(tags) + neighbor_lfs(tags, k=3, min_share=0.6) + ex + [
        kw("kw_fee", "fee_charged", any=["fee", "charge"], exclude=["refund"]),
        LFSpec(id="re_transfer", tag="transfer_failed", kind="regex", params={"pattern": r"transfer\w* (failed|fail)"})]
    compiled = compile_lfs(specs, tags, embed=encoder, reference=Reference(pool, pool_emb))
    L = apply_lfs(pool, compiled, pool_emb)
    framed = with_embeddings(pool, pool_emb)
    np.testing.assert_array_equal(apply_lfs_sharded(framed, compiled, n_shards=3, scheduler="processes"), L)
    # the distributed scheduler a cluster runs: worker processes behind nannies, the compiled LFs
    # (regexes, exemplar embeddings, the prefilter index) shipped to them by distributed's serializer
    from distributed import Client, LocalCluster, get_task_stream

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        with get_task_stream(client) as stream:
            L_dist = apply_lfs_sharded(framed, compiled, n_shards=4, scheduler=client)
        np.testing.assert_array_equal(L_dist, L)
        ran_on = {t["worker"] for t in stream.data if "label_partition" in str(t["key"])}
        assert ran_on and ran_on <= set(client.scheduler_info()["workers"])  # the partitions ran on the workers
    # snorkel's Dask applier infers its output by calling every LF on a dummy row, which the
    # embedding LFs cannot vote on; compare it on the text and metadata LFs
    cols = [j for j, c in enumerate(compiled) if c.kind in ("keyword", "regex", "metadata")]
    with dask.config.set(NO_STRING_CONVERSION):
        L_sn = PandasParallelLFApplier(to_snorkel_lfs([compiled[j] for j in cols])).apply(framed, n_parallel=2)
    np.testing.assert_array_equal(L_sn, L[:, cols])
    assert (L != -1).sum() > len(pool)


def test_exemplar_lf_is_leave_one_out(encoder):
    texts = ["my card was stolen", "I lost my card", "there is a fee on my account"]
    df = pd.DataFrame({"ticket_id": ["a", "b", "c"], "text": texts})
    emb = encoder(texts)
    spec = LFSpec(id="ex", tag="card_lost", kind="exemplar",
                  params={"texts": [texts[0]], "exemplar_ids": ["a"], "threshold": 0.99})
    L = apply_lfs(df, compile_lfs([spec], TAGS, embed=encoder), emb)
    # ticket 'a' would match itself with cosine 1.0; it must not
    assert L[:, 0].tolist() == [-1, -1, -1]
    spec2 = spec.model_copy(update={"params": spec.params.model_copy(update={"exemplar_ids": ["zzz"]})})
    assert apply_lfs(df, compile_lfs([spec2], TAGS, embed=encoder), emb)[0, 0] == 0


def test_neighbor_lf_never_counts_the_ticket_itself():
    emb = np.eye(4, dtype=np.float32)
    emb[1] = emb[0]  # ticket 1 is identical to ticket 0
    df = pd.DataFrame({"ticket_id": ["t0", "t1", "t2", "t3"], "text": ["x"] * 4,
                       "operator_tag": ["fee", "transfer", "fee", "fee"]})
    spec = neighbor_lfs(TAGS, k=1, min_share=1.0)
    L = apply_lfs(df, compile_lfs(spec, TAGS, reference=Reference(df, emb)), emb)
    # t0's nearest neighbour (itself excluded) is t1 (transfer); t1's is t0 (fee)
    assert L[0].tolist() == [-1, -1, 2] and L[1].tolist() == [-1, 1, -1]



def test_neighbor_reference_capped_to_a_seeded_sample():
    """``Reference(max_rows=...)``: neighbours come from a seeded sample of the pool (the search costs
    tickets x reference); a sampled ticket still never neighbours itself, every ticket gets its k from the
    sample, the vectorized votes equal snorkel's row-wise ones, and a cap at or above the pool changes nothing."""
    from snorkel.labeling import PandasLFApplier

    rng = np.random.default_rng(0)
    n = 60
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    df = pd.DataFrame({"ticket_id": [f"t{i}" for i in range(n)], "text": ["x"] * n,
                       "operator_tag": rng.choice(TAGS, size=n)})
    full, capped = Reference(df, emb), Reference(df, emb, max_rows=20, seed=3)
    assert len(full.frame) == n and len(capped.frame) == 20
    assert capped.frame["ticket_id"].tolist() == Reference(df, emb, max_rows=20, seed=3).frame["ticket_id"].tolist()
    assert capped.frame["ticket_id"].tolist() != Reference(df, emb, max_rows=20, seed=4).frame["ticket_id"].tolist()
    nn = capped.neighbors(emb, df["ticket_id"].tolist(), 3)
    assert nn.shape == (n, 3) and nn.max() < 20
    sampled = capped.frame["ticket_id"].tolist()
    assert all(sampled[j] != tid for tid, row in zip(df["ticket_id"], nn) for j in row)  # never itself
    spec = neighbor_lfs(TAGS, k=3, min_share=0.6)
    compiled = compile_lfs(spec, TAGS, reference=capped)
    L = apply_lfs(df, compiled, emb)
    assert (L != -1).any()
    np.testing.assert_array_equal(L, PandasLFApplier(to_snorkel_lfs(compiled)).apply(with_embeddings(df, emb),
                                                                                     progress_bar=False))
    same = Reference(df, emb, max_rows=n)
    np.testing.assert_array_equal(apply_lfs(df, compile_lfs(spec, TAGS, reference=same), emb),
                                  apply_lfs(df, compile_lfs(spec, TAGS, reference=full), emb))


def test_lf_summary_matches_snorkel_lfanalysis():
    from snorkel.labeling import LFAnalysis

    rng = np.random.default_rng(0)
    L = rng.choice([-1, -1, 0, 1, 2], size=(200, 4)).astype(np.int16)
    specs = [kw(f"k{j}", TAGS[j % 3], any=["x"]) for j in range(4)]
    L[:, 0] = np.where(L[:, 0] != -1, 0, -1)
    L[:, 1] = np.where(L[:, 1] != -1, 1, -1)
    L[:, 2] = np.where(L[:, 2] != -1, 2, -1)
    L[:, 3] = np.where(L[:, 3] != -1, 0, -1)
    Y = rng.integers(0, 3, 200)
    ours = lf_summary(L, specs, TAGS, Y=Y)
    ref = LFAnalysis(L).lf_summary(Y)
    np.testing.assert_allclose(ours["coverage"], ref["Coverage"])
    np.testing.assert_allclose(ours["overlaps"], ref["Overlaps"])
    np.testing.assert_allclose(ours["conflicts"], ref["Conflicts"])
    np.testing.assert_array_equal(ours["dev_correct"], ref["Correct"])
    np.testing.assert_allclose(ours["dev_precision"], ref["Emp. Acc."])


def test_exemplar_threshold_selection_respects_precision(encoder):
    dev = pd.DataFrame({"ticket_id": [f"d{i}" for i in range(6)], "tag": ["card_lost"] * 3 + ["fee"] * 3,
                        "text": ["my card was stolen", "someone stole my card", "card got stolen yesterday",
                                 "why a fee", "what is this fee", "extra fee charged"]})
    emb = encoder(dev["text"].tolist())
    specs, table = exemplar_lfs(dev, emb, TAGS, [0.95, 0.6, 0.3], min_precision=0.9, min_support=2)
    assert {s.tag for s in specs} == {"card_lost", "fee"}
    assert "skipped" in table.set_index("tag").loc["transfer", "decision"]
    for s in specs:
        assert s.params.exemplar_ids and s.status == "active"


def test_reference_neighbors_are_the_k_most_similar_others_across_chunks(monkeypatch):
    """The in-place search (rounded, negated, self excluded) finds each row's k most similar reference tickets,
    never the row itself, whatever the chunking."""
    import labeling_functions.apply as ap

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(300, 16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    frame = pd.DataFrame({"ticket_id": [f"t{i}" for i in range(300)], "text": ["x"] * 300})
    ref = Reference(frame, emb)
    X, ids = emb[:50], [f"t{i}" for i in range(50)]
    S = X @ emb.T
    S[np.arange(50), np.arange(50)] = -np.inf
    want = [set(np.argsort(-S[r])[:5]) for r in range(50)]
    for chunk in (7, 2048):
        monkeypatch.setattr(ap, "NEIGHBOR_CHUNK", chunk)
        got = ref.neighbors(X, ids, 5)
        assert [set(g) for g in got] == want
    assert not any(r in set(got[r]) for r in range(50))
