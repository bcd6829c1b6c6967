"""Labeling functions as data.

- :mod:`labeling_functions.spec`     declarative LF specs (keyword, regex, exemplar, neighbor, metadata), YAML I/O
- :mod:`labeling_functions.regex`    the RE2 engine for regex LFs and the gate that refuses unsafe or unsupported patterns
- :mod:`labeling_functions.apply`    fast vectorized applier -> label matrix; compile to snorkel LFs
- :mod:`labeling_functions.prefilter` the applier's exact literal prefilter
- :mod:`labeling_functions.analysis` coverage / overlap / conflict / dev precision per LF
- :mod:`labeling_functions.builders` the initial LF set without an LLM (operator tags, neighbours, exemplars)
- :mod:`labeling_functions.label_model` LFs grouped into source families, one snorkel LabelModel over them
- :mod:`labeling_functions.weak`     the weak labeler: LFs applied and the label model fitted per gold_dev subset
- :mod:`labeling_functions.votes`    per-tag votes of the text LFs (the LF-vote bonus)

Label matrices follow snorkel: ``L[i, j]`` is the tag index LF ``j`` votes for ticket ``i``, or -1.
"""
ABSTAIN = -1
