"""LLM rule generation: propose and revise labeling-function specs from tag descriptions, gold
examples and the model's errors (issue 3; not implemented yet). Proposers emit
:class:`labeling_functions.spec.LFSpec` records, never code."""
