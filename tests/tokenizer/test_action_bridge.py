"""The bridge puts FAST ids into a real (locally trained) HF tokenizer and a tiny model."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("transformers")
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from roboalign.tokenizer.bridge import ActionSpan, ActionTokenBridge

H, D = 16, 7  # the shape the shared `fitted` tokenizer (conftest.py) was fitted on
TEXT = ["pick up the red block and place it in the bowl", "move the arm to the left",
        "<think>the block is near</think><answer>", "open the gripper, then close it"] * 20


def small_hf_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE trained here (like Qwen's, but 300 tokens)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TEXT, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


@pytest.fixture
def attached(fitted):
    hf = small_hf_tokenizer()
    bridge = ActionTokenBridge(fitted)
    before = len(hf)
    added = bridge.attach(hf)
    assert added == fitted.vocab_size + 2 and len(hf) == before + added
    return bridge, hf


def test_action_tokens_survive_llm_tokenize_and_decode(attached, held_out_chunks):
    bridge, hf = attached
    fast_ids = bridge.fast.encode(held_out_chunks[0])
    text = "<think>the block is near</think><answer>" + bridge.format_action(fast_ids) + "</answer>"
    llm_ids = hf(text)["input_ids"]
    assert bridge.span_ids(fast_ids) == llm_ids[llm_ids.index(bridge.start_id):][: len(fast_ids) + 2]
    assert bridge.llm_to_fast(bridge.fast_to_llm(fast_ids)) == fast_ids
    for span in (bridge.extract_from_ids(llm_ids), bridge.extract_from_text(hf.decode(llm_ids))):
        assert span.valid and span.fast_ids == fast_ids
    # skip_special_tokens must not delete them: they are added as ordinary tokens on purpose
    assert bridge.extract_from_text(hf.decode(llm_ids, skip_special_tokens=True)).fast_ids == fast_ids
    res = bridge.decode_ids(llm_ids, H, D)
    assert res.valid
    np.testing.assert_allclose(res.actions, bridge.fast.decode(fast_ids, H, D).actions)


def test_llm_ids_that_are_not_action_tokens_map_to_minus_one(attached):
    bridge, hf = attached
    assert bridge.llm_to_fast(hf("the arm")["input_ids"]) == [-1] * len(hf("the arm")["input_ids"])
    with pytest.raises(ValueError, match="FAST ids"):
        bridge.fast_to_llm([bridge.num_fast])


@pytest.mark.parametrize("text, start, end, junk", [
    ("no action here", False, False, 0),
    ("<ACTION_START><act_1><act_2>", True, False, 0),                 # truncated generation
    ("<ACTION_START><act_1> hello <act_2><ACTION_END>", True, True, 1),
    ("<ACTION_START><act_1><act_99999><ACTION_END>", True, True, 1),  # id beyond the vocabulary
    ("<ACTION_START><ACTION_END>", True, True, 0),
    ("<ACTION_START> <act_1>\n<act_2> <ACTION_END> tail", True, True, 0),  # whitespace is fine
])
def test_extraction_from_text_is_tolerant_and_reports_problems(attached, text, start, end, junk):
    bridge, _ = attached
    span = bridge.extract_from_text(text)
    assert (span.found_start, span.found_end, len(span.junk)) == (start, end, junk)
    expect_valid = start and end and junk == 0 and bool(span.fast_ids)
    assert span.valid == expect_valid and (span.reason == "") == expect_valid
    res = bridge.decode_text(text, H, D)
    assert res.actions.shape == (H, D)
    if not span.valid:
        assert not res.valid and res.code == "bad_span"
        with pytest.raises(ValueError, match="bad_span"):
            bridge.decode_text(text, H, D, strict=True)


def test_extraction_from_ids_names_foreign_tokens_and_stops_at_end(attached):
    bridge, hf = attached
    word = hf("arm")["input_ids"]
    ids = [bridge.start_id] + bridge.fast_to_llm([3, 4]) + word + [bridge.end_id] + bridge.fast_to_llm([5])
    span = bridge.extract_from_ids(ids, tokenizer=hf)
    assert span.fast_ids == [3, 4] and span.found_end and len(span.junk) == len(word)
    assert not span.valid and "foreign" in span.reason
    assert bridge.extract_from_ids(ids[:3]) == ActionSpan([3, 4], True, False, [])
    eos = hf.eos_token_id  # a truncated span followed by EOS/padding: not junk, still unclosed
    assert bridge.extract_from_ids(ids[:3] + [eos, eos], stop_ids=[eos]) == ActionSpan([3, 4], True, False, [])
    assert len(bridge.extract_from_ids(ids[:3] + [eos]).junk) == 1


def test_attach_is_idempotent_and_resizes_a_tiny_model(fitted):
    torch = pytest.importorskip("torch")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    hf = small_hf_tokenizer()
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(hf), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    old = model.get_input_embeddings().weight.detach().clone()
    bridge = ActionTokenBridge(fitted)
    bridge.attach(hf, model=model)
    assert bridge.attach(hf, model=model) == 0  # second time: nothing new
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] == len(hf) == old.shape[0] + fitted.vocab_size + 2
    torch.testing.assert_close(emb[: old.shape[0]], old)  # existing rows untouched
    ids = torch.tensor([bridge.span_ids(fitted.encode_normalized(np.zeros((H, D))))])
    logits = model(input_ids=ids).logits
    assert logits.shape[-1] == len(hf) and torch.isfinite(logits).all()


def test_bridge_save_load_binds_to_the_same_tokenizer_and_refuses_another(attached, tmp_path):
    bridge, hf = attached
    d = bridge.save_pretrained(tmp_path / "tok")
    hf.save_pretrained(tmp_path / "llm")
    hf2 = PreTrainedTokenizerFast.from_pretrained(tmp_path / "llm")
    again = ActionTokenBridge.from_pretrained(d, tokenizer=hf2)
    assert again.config() == bridge.config()
    assert again.fast_to_llm(range(5)) == bridge.fast_to_llm(range(5))
    other = small_hf_tokenizer()
    other.add_tokens(["<zzz>"])          # shifts every id the bridge would get
    ActionTokenBridge(bridge.fast).attach(other)
    with pytest.raises(ValueError, match="not the tokenizer"):
        ActionTokenBridge.from_pretrained(d, tokenizer=other)
    with pytest.raises(ValueError, match="attach"):
        ActionTokenBridge.from_pretrained(d, tokenizer=small_hf_tokenizer())


PIECES = ["<ACTION_START>", "<ACTION_END>", "<act_0>", "<act_5>", "<act_1023>", "<act_4096>", "<act_",
          " ", "\n", "arm", "<think>", "</answer>", "<act_-1>"]


@settings(max_examples=120, deadline=None)
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=40))
def test_decoding_any_generated_text_never_raises(attached_once, pieces):
    bridge = attached_once
    res = bridge.decode_text("".join(pieces), H, D)
    assert res.actions.shape == (H, D)
    assert res.valid == (res.code == "ok")


@settings(max_examples=60, deadline=None)
@given(ids=st.one_of(st.lists(st.integers(-10, 2000), max_size=60), st.none(), st.text(max_size=4),
                     st.lists(st.floats(), max_size=3)))
def test_decoding_any_generated_ids_never_raises(attached_once, ids):
    res = attached_once.decode_ids(ids, H, D)
    assert res.actions.shape == (H, D)
    assert res.valid == (res.code == "ok")


@pytest.fixture(scope="module")
def attached_once(fitted):
    bridge = ActionTokenBridge(fitted)
    bridge.attach(small_hf_tokenizer())
    return bridge
