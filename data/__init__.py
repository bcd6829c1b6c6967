"""Data layer: load tickets from files or SQL, normalize dialogues, quarantine bad rows, mask PII.

Public functions work on pandas DataFrames:

- :func:`data.io.load_tickets` -> (tickets, quarantine) from CSV / JSONL / Parquet / SQL.
- :func:`data.schema.normalize_tickets` validates raw rows and renders dialogues to model text.
- :func:`data.pii.mask_pii` replaces personal data with typed placeholders.
- :func:`data.demo.generate_demo` writes the seeded demo "support system" database.
"""
