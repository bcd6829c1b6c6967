"""Config pieces the tests share."""


def demo_dataset(d, gold_dev: str = "gold_dev.jsonl", use_operator_tags: bool = True) -> str:
    """The YAML ``dataset:`` block over the demo generator's files in ``d``: the pool from its SQLite
    support database (dialogue turns from the messages table)."""
    return f"""dataset:
  pool:
    url: sqlite:///{d}/support.db
    query: SELECT conversation_id AS ticket_id, operator_tag FROM conversations
    turns_query: SELECT conversation_id AS ticket_id, seq AS turn_index, sender AS speaker, body AS text FROM messages
  gold_dev: {d}/{gold_dev}
  gold_test: {d}/gold_test.jsonl
  tags: {d}/tags.csv
  use_operator_tags: {str(use_operator_tags).lower()}
"""
