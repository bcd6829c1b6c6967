"""The run report's words: the section names and what each section shows, what the baselines and
the parts of a recipe name mean, the glossary, and the label model's optimism caveat.

:func:`explain_recipe` reads a recipe name (``weak+dev_w5+conf0.5+prune+char``) in words; :func:`slug`
turns a section name into its anchor id. :mod:`tagger.report_context` puts these beside the run's
numbers.
"""
from __future__ import annotations

SECTIONS = ["Scores", "Per-tag F1", "Confused tags", "Recipe selection", "Refinement rounds", "Label model",
            "Labeling functions", "Label issues", "Quarantine", "LLM usage", "Glossary"]

BASELINES = {
    "model": "this run's model: the chosen recipe, trained on weak labels and/or gold_dev",
    "baseline_gold_dev_only": "the same head trained on gold_dev alone (the expert examples, no weak labels)",
    "baseline_operator_tags": "the same head trained on the operators' own tags (pool tickets that have one)",
    "baseline_majority_vote": "the same head trained on the majority vote of the LF families (no label model)",
}

RECIPE_PARTS = [
    ("weak", "weak labels from the label model"),
    ("dev_wN", "plus the gold_dev examples at weight N"),
    ("confX", "only weak labels whose top probability is ≥ X"),
    ("prune", "confident-learning pruning: weak labels an out-of-fold model doubts are left out"),
    ("dev_only", "gold_dev alone, no weak labels"),
    ("self_train", "self-training: pool tickets without a weak label get the head's confident predictions"),
    ("boostA", "the LF-vote bonus: the text LFs' votes added to the head's scores at weight A"),
    ("char", "features: MiniLM embedding plus the character n-gram (LSA) block; without it, the embedding only"),
    ("adjT", ("prior correction (logit adjustment): the head's score for each tag less T times the log of the tag's "
              "share of the training labels, so tags with few weak labels are not out-voted by their rarity alone")),
]

GLOSSARY = [
    ("gold_dev", ("the small expert-labelled development set; it measures LFs, seeds the label model, gates "
                  "refinement and cross-validates recipes. Every choice in this report is made on it.")),
    ("gold_test", ("the expert-labelled test set, read once, by the final scoring; only the final-scores "
                   "section uses it.")),
    ("pool", "the unlabelled tickets the LFs vote on and the model is trained on."),
    ("weak label", "the tag (a probability per tag) the label model gives a pool ticket from its LFs' votes."),
    ("precision / recall / F1", ("of a tag: share of tickets given the tag that truly have it / share of tickets "
                                 "that have it that got it / their harmonic mean. support (n): tickets that truly "
                                 "have the tag.")),
    ("macro-F1", "the mean of the per-tag F1s: every tag counts the same, rare ones included."),
    ("micro-F1", "F1 over all tickets pooled; with one tag per ticket it equals accuracy."),
    ("accuracy", "share of tickets whose predicted tag is the true tag."),
    ("fees task", ("a yes/no question scored on the same predictions: is the ticket about a fee? The tags "
                   "marked fees_group in the tag list are the positives; fees P / R / F1 are precision, "
                   "recall and F1 of that binary task.")),
    *BASELINES.items(),
    ("CV macro-F1", "macro-F1 of a recipe on held-out gold_dev folds (mean ± standard deviation over the folds)."),
    ("out-of-fold", "each gold_dev ticket predicted by the recipe trained without that ticket's fold."),
    ("gating / selection half", ("refinement splits gold_dev: proposals are written and gated on the gating half; "
                                 "the selection half, never shown to a proposer, picks the best round.")),
    ("label model", ("Snorkel's LabelModel over the LF source families; it weighs each family by its estimated "
                     "accuracy. majority vote: every family counts the same.")),
    ("coverage", "share of pool tickets the LF fires on."),
    ("overlaps", "share of pool tickets where the LF fires along with another LF."),
    ("conflicts", "share of pool tickets where another LF fires with a different tag."),
    ("hits", "pool tickets the LF fires on."),
    ("dev correct / incorrect / precision / recall",
     ("on gold_dev: hits with the LF's tag right / wrong, correct ÷ (correct + incorrect), and correct ÷ "
      "gold_dev tickets of that tag.")),
    ("round", "the refinement round that produced the LF (– for the initial LFs)."),
    ("status", "proposed / active / rejected / retired; only active LFs feed training."),
]

SECTION_HELP = {
    "scores": "The model against three baselines on gold_test, the expert test set read once, after every "
              "choice below was made on gold_dev.",
    "per-tag-f1": "F1 of each tag on gold_test: filled dots are the model (value and support at the right), "
                  "hollow markers the baselines; weakest tags first.",
    "confused-tags": "Which tags the model mixes up on gold_test: rows are the true tag, columns the predicted "
                     "one, coloured by mistaken tickets; only the tags of the most frequent mix-ups.",
    "recipe-selection": "How the training recipe was chosen: every candidate recipe cross-validated on gold_dev "
                        "(never gold_test); the best one was trained on everything.",
    "refinement-rounds": "The LF refinement loop: each round new LFs are proposed and gated on one half of "
                         "gold_dev; the weak labels' macro-F1 is followed on both halves and the best round kept.",
    "label-model": "How the LFs' votes become training labels: the label model against a plain majority vote, "
                   "on the gold_dev tickets some LF covers.",
    "labeling-functions": "Every LF the run used: how much of the pool it fires on, how often it agrees or "
                          "clashes with others, and how precise it is on gold_dev.",
    "label-issues": "Pool tickets whose weak label the confident-learning step doubted and left out of training: "
                    "a review list of likely mis-tagged tickets.",
    "quarantine": "Input rows set aside instead of used, by reason (the rows themselves are in quarantine.csv).",
    "llm-usage": "What the LF proposer of the refinement loop cost, per round: requests, tokens, dollars, "
                 "cache hits.",
    "glossary": "What the metrics, the models and the recipe names mean.",
}

DEFAULT_LM_CAVEAT = ("optimistic: exemplar LFs are scored leave-one-out and the label model's seeds come from "
                     "gold_dev, so gold_dev is not unseen by the labels scored here")


def slug(name: str) -> str:
    """A section's anchor id: ``"Per-tag F1"`` -> ``"per-tag-f1"``."""
    return name.lower().replace(" ", "-")


def explain_recipe(name: str) -> str:
    """A recipe name (``weak+dev_w5+conf0.5+prune+char``) in words."""
    words = []
    for part in str(name).split("+"):
        if part == "weak":
            words.append("weak labels")
        elif part.startswith("dev_w"):
            words.append(f"gold_dev ×{part[5:]}")
        elif part.startswith("conf"):
            words.append(f"weak labels with confidence ≥ {part[4:]}")
        elif part == "prune":
            words.append("doubtful weak labels pruned")
        elif part == "dev_only":
            words.append("gold_dev only")
        elif part == "self_train":
            words.append("self-training on the pool")
        elif part.startswith("boost"):
            words.append(f"LF-vote bonus {part[5:]}")
        elif part == "char":
            words.append("+ char n-gram features")
        elif part.startswith("adj"):
            words.append(f"prior-corrected ×{part[3:]} (rare tags not out-voted)")
        else:
            words.append(part)
    return ", ".join(words)
