"""Full-size shapes (Qwen2.5-VL-7B, Qwen3-VL-8B) on the meta device: no weights, no download."""
from __future__ import annotations

import pytest

from roboalign.policy.meta import check_full_size
from roboalign.tokenizer import FastTokenizer
from roboalign.tokenizer.synthetic import smooth_chunks


@pytest.fixture(scope="module")
def fast_2048() -> FastTokenizer:
    """A FAST tokenizer with the paper's 2,048 action tokens."""
    fast = FastTokenizer(vocab_size=2048).fit(smooth_chunks(3000, 16, 7, seed=0))
    assert fast.vocab_size == 2048
    return fast


def test_qwen2_5_vl_7b_prompt_layer_18_of_28_and_vocabulary_resize(fast_2048):
    r = check_full_size("qwen2_5_vl", fast_2048)
    assert (r["num_layers"], r["hidden_size"]) == (28, 3584)
    assert 8.2 < r["params_b"] < 8.4  # 7B LLM + 0.7B vision + untied LM head
    assert r["feature_layer"] == 18 and r["feature_shape"][-1] == 3584
    # 224x224 -> 16x16 patches of 14 px -> 64 tokens after 2x2 merge, per camera (2 cameras).
    assert r["image_grid_thw"] == [[1, 16, 16], [1, 16, 16]] and r["image_tokens"] == 128
    assert r["pixel_values"][1] == 3 * 2 * 14 * 14
    assert r["tokenizer_before"] == 151665 and r["added_tokens"] == 2 + 2048
    assert r["tokenizer_after"] == 151665 + 2050
    assert r["embedding_rows_after"] == r["lm_head_rows_after"] == 153728  # rounded up to x64


def test_qwen3_vl_8b_prompt_layer_selection_and_vocabulary_resize(fast_2048):
    r = check_full_size("qwen3_vl", fast_2048, image_hw=(256, 256))
    assert (r["num_layers"], r["hidden_size"]) == (36, 4096)
    assert r["feature_layer"] == 23 and r["feature_shape"][-1] == 4096
    assert r["image_grid_thw"] == [[1, 16, 16], [1, 16, 16]]  # 16 px patches
    assert r["pixel_values"][1] == 3 * 2 * 16 * 16
    assert r["tokenizer_after"] == r["tokenizer_before"] + 2050
    assert r["embedding_rows_after"] == r["lm_head_rows_after"] >= r["tokenizer_after"]


def test_explicit_layer_choice_is_honoured_and_checked(fast_2048):
    assert check_full_size("qwen2_5_vl", fast_2048, layer=-1)["feature_layer"] == 28
    with pytest.raises(ValueError, match="out of range"):
        check_full_size("qwen2_5_vl", fast_2048, layer=29)
