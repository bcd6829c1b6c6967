"""LLM rule generation: propose and revise labeling-function specs from tag descriptions, gold
examples and the model's errors, behind a gate on gold_dev precision and coverage.

- :mod:`llm_rulegen.base`           the proposer interface and the round context it sees
- :mod:`llm_rulegen.openai_backend` OpenAI-compatible proposer (HTTP), :mod:`llm_rulegen.batch` its
  batch (air-gapped) mode, :mod:`llm_rulegen.miner` the offline proposer
- :mod:`llm_rulegen.prompts`        versioned prompt templates (PII masked before anything is sent)
- :mod:`llm_rulegen.gate`           validation, safety and dev precision / coverage gate
- :mod:`llm_rulegen.loop`           the closed loop: model errors -> proposals -> gate -> weak labels
- :mod:`llm_rulegen.settings`       the loop's and the backend's settings

Proposers emit :class:`labeling_functions.spec.LFSpec` records, never code.
"""
