"""save_pretrained -> from_pretrained gives the same tokenizer; broken folders fail readably."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from roboalign.core import NormStats
from roboalign.tokenizer import FastTokenizer

H, D = 16, 7  # the shape the shared `fitted` tokenizer (conftest.py) was fitted on


@pytest.fixture(scope="module")
def reloaded(fitted, tmp_path_factory):
    d = fitted.save_pretrained(tmp_path_factory.mktemp("fast"))
    return FastTokenizer.from_pretrained(d), d


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, (H, D), elements=st.floats(-3, 3, width=64)))
def test_reloaded_tokenizer_gives_identical_tokens_and_actions(fitted, reloaded, x):
    tok, _ = reloaded
    ids = fitted.encode(x)
    assert tok.encode(x) == ids
    np.testing.assert_array_equal(tok.decode(ids, H, D).actions, fitted.decode(ids, H, D).actions)


def test_reloaded_tokenizer_keeps_config_and_norm_stats(fitted, reloaded):
    tok, d = reloaded
    assert tok.config() == fitted.config()
    assert tok.normalizer.digest() == fitted.normalizer.digest()
    assert NormStats.load(d / "norm_stats.json").digest() == fitted.normalizer.digest()
    assert sorted(p.name for p in d.iterdir()) == ["bpe_tokenizer.json", "fast_tokenizer.json", "norm_stats.json"]


def test_missing_file_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="fast_tokenizer.json.*save_pretrained"):
        FastTokenizer.from_pretrained(tmp_path)


def test_norm_stats_swapped_for_other_ones_is_detected(fitted, tmp_path):
    d = fitted.save_pretrained(tmp_path / "t")
    NormStats.fit(np.random.default_rng(0).normal(size=(100, D))).save(d / "norm_stats.json")
    with pytest.raises(ValueError, match="digest"):
        FastTokenizer.from_pretrained(d)


def test_unknown_format_version_is_refused(fitted, tmp_path):
    d = fitted.save_pretrained(tmp_path / "t")
    cfg = json.loads((d / "fast_tokenizer.json").read_text())
    cfg["version"] = 99
    (d / "fast_tokenizer.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="v99"):
        FastTokenizer.from_pretrained(d)


def test_saving_an_unfitted_tokenizer_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="fit"):
        FastTokenizer().save_pretrained(tmp_path)


def test_given_norm_stats_are_used_as_they_are(train_chunks):
    stats = NormStats.fit(train_chunks, (0.05, 0.95))
    tok = FastTokenizer(vocab_size=512).fit(train_chunks[:300], normalizer=stats)
    assert tok.normalizer is stats and tok.vocab_size <= 512
