"""The encoder on ONNX Runtime: exported once and cached, as close to torch as float noise, shape-stable
(bit-identical alone, in any batch or shard), and cached under its own embedding key."""
import numpy as np

from models.encoder import Encoder, embed_texts
from tests.test_models import assert_shape_stable

TEXTS = ["card stolen", "why was I charged a fee on my transfer yesterday evening?", "pin",
         "I ordered a new card two weeks ago and it has still not arrived, what is going on " * 3,
         "refund not showing up", "top-up failed again", "how do I verify my identity", "x" * 40]


def test_onnxruntime_encoder_matches_torch_is_shape_stable_and_cached(tmp_path, encoder, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="models.onnx_runtime")
    ort = Encoder(max_length=32, cache_dir=tmp_path, runtime="onnxruntime")
    tok, session = ort.tokenizer_model
    exported = list((tmp_path / "onnx").rglob("encoder.onnx"))
    assert len(exported) == 1 and "exporting the encoder to ONNX" in caplog.text
    assert type(session).__name__ == "OrtEncoder"

    full = assert_shape_stable(TEXTS, tok, session)  # batches run two at a time here, one at a time alone
    torch_tok, torch_model = encoder.tokenizer_model
    ref = embed_texts(TEXTS, torch_tok, torch_model, max_length=32)
    assert not np.array_equal(full, ref) and np.abs(full - ref).max() < 1e-5  # another runtime, the same numbers

    # its own embedding-cache key; a second encoder reuses the export (no second "exporting" line)
    assert np.array_equal(ort(TEXTS), full)
    torch_enc = Encoder(max_length=32, cache_dir=tmp_path)
    assert torch_enc._key(TEXTS) != ort._key(TEXTS)
    assert np.array_equal(torch_enc(TEXTS), ref)
    caplog.clear()
    again = Encoder(max_length=32, cache_dir=tmp_path, runtime="onnxruntime")
    assert np.array_equal(embed_texts(TEXTS, *again.tokenizer_model, max_length=32), full)
    assert "exporting" not in caplog.text and len(list((tmp_path / "onnx").rglob("encoder.onnx"))) == 1


def test_a_runtime_outside_the_list_is_refused_by_name():
    import pytest

    with pytest.raises(ValueError, match="runtime must be one of"):
        Encoder(runtime="tensorrt")
