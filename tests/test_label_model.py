import numpy as np
from threadpoolctl import threadpool_info

from labeling_functions.label_model import (SourceLabelModel, collapse_families, covered, estimate_prior,
                                            family_dev_precision, majority_vote_proba)


def synthetic(n=3000, k=5, accs=(0.95, 0.75, 0.6), cover=(0.9, 0.8, 0.9), seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    cols = []
    for a, c in zip(accs, cover):
        right = rng.random(n) < a
        wrong = (y + rng.integers(1, k, n)) % k
        v = np.where(right, y, wrong)
        cols.append(np.where(rng.random(n) < c, v, -1))
    return np.stack(cols, 1), y


def test_collapse_families_plurality_and_tiebreak():
    # family A has 3 LFs (tags 0, 1, 1), family B has 1 LF (tag 2)
    L = np.array([[0, 1, 1, -1], [0, -1, -1, 2], [-1, 1, -1, -1], [-1, -1, -1, -1], [0, 1, -1, -1]])
    fam = ["A", "A", "A", "B"]
    Lf, names = collapse_families(L, fam, 3, lf_weight=[0.9, 0.6, 0.6, 0.8])
    assert names == ["A", "B"]
    assert Lf.tolist() == [[1, -1], [0, 2], [1, -1], [-1, -1], [0, -1]]  # last row: tie -> higher precision LF


def test_snorkel_label_model_beats_majority_vote_on_skewed_sources():
    L, y = synthetic()
    fam = ["op", "nn", "ex"]
    lm = SourceLabelModel(5, n_epochs=300, seed=1).fit(L, fam, estimate_prior([], list("abcde")))
    assert lm.method_ == "snorkel_label_model"
    P = lm.predict_proba(L)
    np.testing.assert_allclose(P.sum(1), 1, atol=1e-6)
    m = covered(L)
    acc_lm = (P[m].argmax(1) == y[m]).mean()
    acc_mv = (majority_vote_proba(L, 5)[m].argmax(1) == y[m]).mean()
    assert acc_lm > acc_mv + 0.01, (acc_lm, acc_mv)
    # with seeds from dev precision it still learns (and rows with no vote are uniform)
    prec = family_dev_precision(L[:300], y[:300])
    assert prec[0] > prec[2]
    P2 = SourceLabelModel(5, n_epochs=100).fit(L, fam, prec_init=prec).predict_proba(np.array([[-1, -1, -1]]))
    np.testing.assert_allclose(P2, np.full((1, 5), 0.2))


def test_fewer_than_three_sources_falls_back_to_majority_vote():
    L, y = synthetic(accs=(0.9, 0.7), cover=(1.0, 1.0))
    lm = SourceLabelModel(5).fit(L, ["a", "b"])
    assert lm.method_ == "majority_vote_fallback"
    np.testing.assert_allclose(lm.predict_proba(L), majority_vote_proba(L, 5))


def test_many_tags_many_lfs_stays_small_and_fast():
    """77 tags x 300 LFs in 3 families: the snorkel problem is (3*77)^2, not (300*77)^2."""
    rng = np.random.default_rng(0)
    n, k = 4000, 77
    y = rng.integers(0, k, n)
    fam, cols = [], []
    for f, acc in (("op", 0.8), ("nn", 0.9), ("kw", 0.85)):
        for t in range(100):
            tag = t % k
            fires = (rng.random(n) < 0.5) & ((y == tag) & (rng.random(n) < acc) | (rng.random(n) < 0.002))
            cols.append(np.where(fires, tag, -1))
            fam.append(f)
    L = np.stack(cols, 1)
    lm = SourceLabelModel(k, n_epochs=100, blas_threads=1).fit(L, fam)
    assert lm.model_.d == 3 * k  # snorkel's augmented width
    assert lm.fit_seconds_ < 120
    m = covered(L)
    assert (lm.predict_proba(L)[m].argmax(1) == y[m]).mean() > 0.8


def test_blas_threads_are_restored_after_fit():
    before = [i["num_threads"] for i in threadpool_info()]
    L, _ = synthetic(n=300)
    SourceLabelModel(5, n_epochs=10, blas_threads=1).fit(L, ["a", "b", "c"])
    assert [i["num_threads"] for i in threadpool_info()] == before


def test_prior_from_operator_tags():
    p = estimate_prior(["a", "a", "b", None, "zzz"], ["a", "b", "c"], smoothing=1)
    np.testing.assert_allclose(p, [3 / 6, 2 / 6, 1 / 6])


def test_a_uniform_class_prior_lets_a_tag_the_operators_have_not_adopted_win_its_close_calls():
    """Tag 4 is new: the operators file its tickets under an old tag (or none) and have used it on a
    handful only, so its operator-tag share is tiny. A rule for it fires on most of its tickets. With the
    operator-tag prior the label model hands most of those tickets to the old tags; with a uniform prior
    (``label_model.class_prior: uniform``) they go to tag 4, and the old tags barely move."""
    rng = np.random.default_rng(0)
    n, k = 4000, 5
    y = rng.choice(k, n, p=[0.23, 0.23, 0.23, 0.23, 0.08])
    old = rng.integers(0, 4, n)
    op = np.where(rng.random(n) < 0.8, y, (y + rng.integers(1, k, n)) % k)  # ~80% right on old tags
    op = np.where(y == 4, np.where(rng.random(n) < 0.1, 4, np.where(rng.random(n) < 0.5, old, -1)), op)
    op = np.where((y != 4) & (op == 4), y, op)  # nobody files an old ticket under the new tag
    nn = np.where(rng.random(n) < 0.7, y, (y + rng.integers(1, k, n)) % k)  # a weaker voter on every ticket
    rule = np.where((y == 4) & (rng.random(n) < 0.8), 4, np.where(rng.random(n) < 0.02, rng.integers(0, 4, n), -1))
    L = np.stack([op, nn, rule], 1)
    fam = ["op", "nn", "rule"]
    prior = estimate_prior([str(t) for t in op if t >= 0], [str(t) for t in range(k)])
    assert prior[4] < 0.25 * prior[:4].min()
    recall, old_acc = {}, {}
    for name, p in (("operator_tags", prior), ("uniform", None)):
        pred = SourceLabelModel(k, n_epochs=300, seed=1).fit(L, fam, p).predict_proba(L).argmax(1)
        recall[name] = (pred[y == 4] == 4).mean()
        old_acc[name] = (pred[y != 4] == y[y != 4]).mean()
    assert recall["uniform"] >= recall["operator_tags"] + 0.15, recall
    assert old_acc["uniform"] >= old_acc["operator_tags"] - 0.02, old_acc


def test_the_class_prior_setting_reaches_the_weak_labeler(tmp_path):
    from tagger.config import RunConfig
    from tagger.dataset import weak_labeler
    from tests.test_selection_leak import _cfg, _data

    ds, pool_emb, dev_emb, _ = _data(tmp_path)
    priors = {}
    for name in ("operator_tags", "uniform"):
        raw = _cfg(tmp_path, "all").model_dump()
        raw["label_model"]["class_prior"] = name
        priors[name] = weak_labeler(RunConfig.model_validate(raw), ds, pool_emb, dev_emb, encoder=None).prior
    assert priors["uniform"] is None and priors["operator_tags"].shape == (len(ds.tags),)
