"""Any local encoder: a tiny BERT built here (random weights, a WordPiece vocabulary trained with
``tokenizers`` on the demo texts and some Russian ones) runs the whole pipeline and ``tagger tag``,
int8 included, with nothing fetched from anywhere. The model directory records and carries it."""
import json
from pathlib import Path

import pandas as pd

from data.demo import generate_demo
from tagger.config import load_config
from tagger.pipeline import run_pipeline
from tests.tiny_configs import cli, demo_dataset

RUSSIAN = ["Здравствуйте, моя карта заблокирована", "Не пришёл перевод на счёт", "Списали комиссию за обслуживание",
           "Как поменять тариф", "Ёлка и елка: одна и та же буква"]


def tiny_encoder(out: Path, texts: list[str]) -> Path:
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=True, strip_accents=False)
    wp.train_from_iterator(texts, vocab_size=800, min_frequency=1)
    tok = BertTokenizerFast(tokenizer_object=wp._tokenizer, do_lower_case=True, strip_accents=False,
                            unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                            mask_token="[MASK]")
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


CONFIG = """
name: enc
seed: 0
output_dir: {out}/runs
cache_dir: {out}/cache
{dataset}end_model:
  encoder: {{path: {enc}, pooling: cls}}
  max_length: 32
  select: {{folds: 2, gold_dev_weights: [1], min_confidences: [0], prune_noisy: false, self_train: false,
           features: [embedding]}}
label_model: {{n_epochs: 50}}
"""


def test_a_local_encoder_runs_the_pipeline_and_tagging(tmp_path):
    demo = tmp_path / "demo"
    generate_demo(demo, n_pool=200, n_test_per_tag=3, n_dev_per_tag=4, seed=5)
    from data.io import load_tickets

    texts = load_tickets(demo / "gold_dev.jsonl", label_column="tag")[0]["text"].tolist() + RUSSIAN
    enc = tiny_encoder(tmp_path / "tiny-bert", texts)
    cfg = tmp_path / "enc.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path, enc=enc, dataset=demo_dataset(demo)))
    run_dir = run_pipeline(load_config(cfg), progress=False)
    info = json.loads((run_dir / "model" / "model_config.json").read_text())
    assert info["encoder"] == str(enc) and info["pooling"] == "cls"
    assert json.loads((run_dir / "model" / "encoder" / "config.json").read_text())["hidden_size"] == 32  # carried
    # the embedding cache is keyed by the encoder: MiniLM's 384-wide vectors are never reused for it
    assert {a.shape[1] for a in map(__import__("numpy").load, (tmp_path / "cache" / "embeddings").glob("*.npy"))} == {32}

    tickets = tmp_path / "ru.csv"
    pd.DataFrame({"ticket_id": [f"r{i}" for i in range(len(RUSSIAN))], "text": RUSSIAN}).to_csv(tickets, index=False)
    for precision in ("int8", "fp32"):
        out = tmp_path / f"tags-{precision}.csv"
        r = cli("tag", tickets, out, "--model", run_dir / "model", "--precision", precision, "--quiet",
                *(["--bom"] if precision == "fp32" else []))
        assert r.returncode == 0, r.stderr[-2000:]
        tags = pd.read_csv(out)
        assert len(tags) == len(RUSSIAN) and tags["tag"].isin(info["tags"]).all()
        assert out.read_bytes().startswith(b"\xef\xbb\xbf") == (precision == "fp32")  # --bom: for Excel


def test_a_missing_encoder_directory_is_a_clear_error(tmp_path):
    import pytest

    from models.encoder import Encoder

    with pytest.raises(FileNotFoundError, match="no config.json"):
        Encoder(tmp_path / "nope")
