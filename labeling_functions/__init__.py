"""Labeling functions as data.

- :mod:`labeling_functions.spec`     declarative LF specs (keyword, regex, exemplar, metadata), YAML I/O
- :mod:`labeling_functions.apply`    fast vectorized applier -> label matrix; compile to snorkel LFs
- :mod:`labeling_functions.analysis` coverage / overlap / conflict / dev accuracy per LF
- :mod:`labeling_functions.builders` the initial LF set without an LLM (operator tags, exemplars)
- :mod:`labeling_functions.label_model` per-tag snorkel label models combined into a distribution

Label matrices follow snorkel: ``L[i, j]`` is the tag index LF ``j`` votes for ticket ``i``, or -1.
"""
ABSTAIN = -1
