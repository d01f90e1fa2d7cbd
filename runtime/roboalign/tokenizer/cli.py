"""`roboalign tokenizer fit | stats`: fit a FAST tokenizer on demonstrations and measure it.

Mistakes answer in one line through roboalign.cli (roboalign.errors): a flag out of range, data
that cannot be read or a folder that is not a tokenizer are usage errors (exit 2).
"""
from __future__ import annotations

import argparse
import json
import time
import zipfile
from pathlib import Path

from roboalign.arguments import float_range, int_range
from roboalign.errors import UsageError

# What reading a damaged or foreign input raises (np.load, json, the tokenizer's own checks).
_BAD_INPUT = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile)


def register(subparsers) -> None:
    p = subparsers.add_parser("tokenizer", help="fit / measure the FAST action tokenizer")
    sub = p.add_subparsers(dest="tokenizer_command", metavar="ACTION")

    fit = sub.add_parser("fit", help="fit normaliser + BPE on action chunks, save to a folder",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _data_args(fit)
    fit.add_argument("--out", required=True, type=Path, help="output folder (save_pretrained layout)")
    fit.add_argument("--vocab-size", type=int_range(1, 1_000_000), default=1024,
                     help="BPE vocabulary (2048: universal; at least the symbol alphabet)")
    fit.add_argument("--scale", type=float_range(0.0, 1e6, low_open=True), default=10.0,
                     help="DCT coefficient scale before rounding")
    fit.add_argument("--max-horizon", type=int_range(1, 4096), default=64, help="longest chunk the tokenizer accepts")
    fit.add_argument("--quantiles", type=float_range(0.0, 1.0), nargs=2, default=(0.01, 0.99), metavar=("LOW", "HIGH"),
                     help="normalisation quantiles, 0 <= LOW < HIGH <= 1")
    fit.set_defaults(func=_fit)

    stats = sub.add_parser("stats", help="round-trip error, tokens/chunk, compression, invalid rate",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    stats.add_argument("--tokenizer", required=True, type=Path, help="folder written by `tokenizer fit`")
    _data_args(stats)
    stats.add_argument("--random-trials", type=int_range(1, 10_000_000), default=2000,
                       help="random token strings to decode")
    stats.add_argument("--json", type=Path, default=None, help="also write the full report here")
    stats.set_defaults(func=_stats)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _data_args(p) -> None:
    p.add_argument("--data", required=True, type=Path,
                   help=".npy/.npz of chunks [N,H,D] or trajectories, or a folder of episodes")
    p.add_argument("--horizon", type=int_range(1, 4096), default=None,
                   help="chunk length cut from trajectories/episodes (default 16; chunk files keep theirs)")
    p.add_argument("--stride", type=int_range(1), default=1, help="steps between chunk starts in a trajectory")
    p.add_argument("--max-chunks", type=int_range(1), default=None, help="use at most this many (evenly spaced)")


def _chunks(args):
    import numpy as np

    from roboalign.tokenizer.sources import load_chunks

    try:
        x = load_chunks(args.data, args.horizon, args.stride)
    except _BAD_INPUT as exc:
        raise UsageError(f"--data {args.data}: {_one_line(exc)}") from None
    if x.shape[0] == 0:
        raise UsageError(f"--data {args.data}: no action chunks in it")
    if args.max_chunks and x.shape[0] > args.max_chunks:
        x = x[np.linspace(0, x.shape[0] - 1, args.max_chunks).astype(int)]
    return x


def _fit(args) -> int:
    from roboalign.tokenizer.fast import FastTokenizer

    low, high = args.quantiles
    if not low < high:
        raise UsageError(f"--quantiles: LOW must be below HIGH, got {low:g} {high:g}")
    x = _chunks(args)
    try:
        t0 = time.perf_counter()
        tok = FastTokenizer(args.scale, args.vocab_size, args.max_horizon, (low, high)).fit(x)
        dt = time.perf_counter() - t0
    except ValueError as exc:  # e.g. a vocabulary below the symbol alphabet, chunks above max_horizon
        raise UsageError(_one_line(exc)) from None
    tok.save_pretrained(args.out)
    print(f"fitted on {x.shape[0]} chunks [H={x.shape[1]}, D={x.shape[2]}] in {dt:.2f} s: "
          f"vocab {tok.vocab_size}, norm stats {tok.normalizer.digest()} -> {args.out}")
    return 0


def _stats(args) -> int:
    from roboalign.tokenizer.fast import FastTokenizer
    from roboalign.tokenizer.report import summary_lines, tokenizer_report

    try:
        tok = FastTokenizer.from_pretrained(args.tokenizer)
    except _BAD_INPUT as exc:
        raise UsageError(f"--tokenizer {args.tokenizer}: {_one_line(exc)}") from None
    x = _chunks(args)
    try:
        rep = tokenizer_report(tok, x, random_trials=args.random_trials)
    except ValueError as exc:  # chunks that do not fit this tokenizer (dims, horizon)
        raise UsageError(f"--data {args.data} does not fit --tokenizer {args.tokenizer}: {_one_line(exc)}") from None
    rep["data"] = str(args.data)
    print("\n".join(summary_lines(rep)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rep, indent=2))
        print(f"report -> {args.json}")
    return 0


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyError):  # a JSON file without an entry this code needs
        return f"missing entry {exc.args[0]!r}"
    return " ".join(str(exc).split()) or type(exc).__name__
