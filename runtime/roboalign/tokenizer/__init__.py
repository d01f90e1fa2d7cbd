"""FAST action tokenizer (DCT + quantise + BPE) and its bridge into an MLLM vocabulary.

    from roboalign.tokenizer import FastTokenizer, DecodeResult
    tok = FastTokenizer(scale=10.0, vocab_size=1024).fit(chunks)      # chunks [N, H, D]
    ids = tok.encode(chunk)                                           # chunk [H, D]
    res = tok.decode(ids, horizon=H, dim=D)                           # never raises
    if res.valid: execute(res.actions)

The MLLM side lives in roboalign.tokenizer.bridge (imports transformers only when used).
See docs/tokenizer.md for the format, the error bound and measured numbers.
"""
from roboalign.tokenizer.dct import quantization_bound
from roboalign.tokenizer.fast import DecodeResult, FastTokenizer
from roboalign.tokenizer.naive import UniformBinTokenizer

__all__ = ["FastTokenizer", "DecodeResult", "UniformBinTokenizer", "quantization_bound"]
