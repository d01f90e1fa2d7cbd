"""FAST action tokenizer (DCT + quantise + BPE) and its bridge into an MLLM vocabulary.

    from roboalign.tokenizer import FastTokenizer, DecodeResult
    tok = FastTokenizer(scale=10.0, vocab_size=1024).fit(chunks)      # chunks [N, H, D]
    ids = tok.encode(chunk)                                           # chunk [H, D]
    res = tok.decode(ids, horizon=H, dim=D)                           # never raises
    if res.valid: execute(res.actions)

The MLLM side lives in roboalign.tokenizer.bridge (imports transformers only when used).
See docs/tokenizer.md for the format, the error bound and measured numbers.
"""
import importlib

# Loaded on first use, so `roboalign --help` (which imports roboalign.tokenizer.cli) does not
# pay for scipy and tokenizers.
_LAZY = {
    "FastTokenizer": "roboalign.tokenizer.fast",
    "DecodeResult": "roboalign.tokenizer.fast",
    "UniformBinTokenizer": "roboalign.tokenizer.naive",
    "quantization_bound": "roboalign.tokenizer.dct",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'roboalign.tokenizer' has no attribute {name!r}")
