"""FAST action tokenizer: quantile-normalise -> DCT-II -> scale, round -> BPE (Pertsch et al. 2025).

Encoding is for building training targets; decoding sits in the control path (model output ->
actions), so `decode` never raises in its default mode: it returns a DecodeResult that says
whether the token string was a well-formed chunk and, if not, why, with a best-effort chunk the
caller must not execute. `strict=True` raises ValueError with the same reason instead.

Saved layout (`save_pretrained(dir)`), all JSON:
    fast_tokenizer.json   format, version, scale, max_horizon, symbol radius, vocab sizes,
                          fit summary and the NormStats digest (checked on load)
    bpe_tokenizer.json    the HF `tokenizers` BPE over symbol characters (symbols.py)
    norm_stats.json       roboalign.core.NormStats (1st/99th percentile per dimension)
"""
from __future__ import annotations

import dataclasses
import json
import operator
from pathlib import Path

import numpy as np

from roboalign.core import NormStats
from roboalign.tokenizer import dct
from roboalign.tokenizer.symbols import CHAR_BASE, SymbolBPE

FORMAT = "roboalign-fast-tokenizer"
VERSION = 1
CONFIG_FILE, BPE_FILE, NORM_FILE = "fast_tokenizer.json", "bpe_tokenizer.json", "norm_stats.json"
MAX_DIM = 1024  # decode refuses larger dims before allocating anything


@dataclasses.dataclass(frozen=True)
class DecodeResult:
    """Outcome of decoding one token sequence.

    valid:      True only if the tokens are in the vocabulary, spell exactly horizon*dim
                symbols and decode inside the normalised range (up to the quantisation bound).
    actions:    [H, D] physical units (unnormalised). Best effort when invalid: never execute.
    normalized: [H, D] in [-1, 1] (clipped). For decode_normalized, actions is this array.
    reason:     "" when valid, otherwise every problem found, human readable.
    code:       "ok" or the first problem: not_fitted, bad_shape, not_integers, empty,
                unknown_token, too_short, too_long, out_of_range, internal_error.
    n_tokens:   how many tokens were given (0 if they could not be read).
    """

    valid: bool
    actions: np.ndarray
    normalized: np.ndarray
    reason: str = ""
    code: str = "ok"
    n_tokens: int = 0


class FastTokenizer:
    """FAST tokenizer for chunks [H, D] in physical units; fit() before encode/decode.

    scale:        DCT coefficients are multiplied by this before rounding (10 = FAST default).
    vocab_size:   BPE vocabulary size requested (1024 default, 2048 for a universal tokenizer).
                  After fit, `.vocab_size` is the size actually trained (<= requested if the
                  data supports fewer merges).
    max_horizon:  longest chunk this tokenizer accepts; fixes the symbol alphabet
                  (|symbol| <= ceil(scale*sqrt(max_horizon))+1), see dct.py.
    quantiles:    for the NormStats fitted on the chunks.
    """

    def __init__(self, scale: float = 10.0, vocab_size: int = 1024, max_horizon: int = 64,
                 quantiles: tuple[float, float] = (0.01, 0.99)):
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale}")
        if int(max_horizon) < 1:
            raise ValueError(f"max_horizon must be >= 1, got {max_horizon}")
        self.scale = float(scale)
        self.requested_vocab_size = int(vocab_size)
        self.max_horizon = int(max_horizon)
        self.quantiles = (float(quantiles[0]), float(quantiles[1]))
        self._normalizer: NormStats | None = None
        self.fit_summary: dict = {}
        self._bpe = SymbolBPE(dct.symbol_radius(self.max_horizon, self.scale))
        if self.requested_vocab_size < self._bpe.alphabet_size:
            raise ValueError(
                f"vocab_size {vocab_size} < {self._bpe.alphabet_size} symbols needed for scale "
                f"{scale} and max_horizon {max_horizon}: raise vocab_size or lower scale/max_horizon"
            )

    # --- properties ---------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._bpe.vocab_size if self._bpe.trained else self.requested_vocab_size

    @property
    def fitted(self) -> bool:
        return self._bpe.trained and self.normalizer is not None

    @property
    def dim(self) -> int | None:
        return None if self.normalizer is None else self.normalizer.dim

    def bound(self, horizon: int) -> float:
        """Max abs round-trip error in normalised units for chunks of this horizon."""
        return dct.quantization_bound(horizon, self.scale)

    def __repr__(self) -> str:
        state = f"dim={self.dim}, vocab={self.vocab_size}" if self.fitted else "unfitted"
        return f"FastTokenizer(scale={self.scale}, max_horizon={self.max_horizon}, {state})"

    # --- fit ----------------------------------------------------------------------------------
    def fit(self, chunks: np.ndarray, normalizer: NormStats | None = None) -> FastTokenizer:
        """Fit NormStats (unless given) and the BPE on chunks [N, H, D] in physical units."""
        x = np.asarray(chunks, dtype=np.float64)
        if x.ndim != 3 or min(x.shape) < 1:
            raise ValueError(f"fit needs chunks [N, H, D] with N, H, D >= 1, got shape {x.shape}")
        if x.shape[1] > self.max_horizon:
            raise ValueError(f"chunk horizon {x.shape[1]} > max_horizon {self.max_horizon}")
        if not np.all(np.isfinite(x)):
            raise ValueError("fit: chunks contain NaN or inf; drop those samples first")
        if normalizer is None:
            normalizer = NormStats.fit(x, self.quantiles)
        elif normalizer.dim != x.shape[2]:
            raise ValueError(f"normalizer has {normalizer.dim} dims, chunks have {x.shape[2]}")
        previous = self._normalizer
        self.normalizer = normalizer
        q = self._quantize(self._normalize(x))
        texts = [self._bpe.to_text(row) for row in q.reshape(q.shape[0], -1)]
        try:
            self._bpe.train(texts, self.requested_vocab_size)
        except Exception:  # the BPE was not replaced: put the matching normaliser back
            if previous is not None:
                self.normalizer = previous
            else:
                self._normalizer = None
            raise
        self.fit_summary = {"num_chunks": int(x.shape[0]), "horizon": int(x.shape[1]),
                            "dim": int(x.shape[2])}
        return self

    # --- encode -------------------------------------------------------------------------------
    def encode(self, chunk: np.ndarray) -> list[int]:
        """Chunk [H, D] in physical units -> FAST token ids. Raises ValueError on bad input."""
        x = self._check_chunks(chunk, ndim=2)
        return self._encode_q(self._quantize(self._normalize(x)))

    def encode_normalized(self, chunk: np.ndarray) -> list[int]:
        """Chunk [H, D] already in [-1, 1] (values outside are clipped), any D."""
        x = self._check_chunks(chunk, ndim=2, physical=False)
        return self._encode_q(self._quantize(x))

    def encode_batch(self, chunks: np.ndarray) -> list[list[int]]:
        """Chunks [N, H, D] in physical units -> one token list per chunk (vectorised)."""
        x = self._check_chunks(chunks, ndim=3)
        q = self._quantize(self._normalize(x))
        return self._bpe.encode_texts([self._bpe.to_text(r) for r in q.reshape(q.shape[0], -1)])

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        # No clip of q to the symbol radius is needed: |x| <= 1 and H <= max_horizon bound every
        # coefficient by scale*sqrt(H) < radius (dct.py).
        return dct.quantize(x.clip(-1.0, 1.0), self.scale)

    def _normalize(self, x: np.ndarray) -> np.ndarray:
        """NormStats.normalize with its constants cached: the same float ops, bit-identical."""
        lo, safe, const = self._affine
        y = 2.0 * (x - lo) / safe - 1.0
        if const is not None:
            y[..., const] = 0.0
        return y.clip(-1.0, 1.0, out=y)

    def _unnormalize(self, y: np.ndarray) -> np.ndarray:
        """NormStats.unnormalize for y already in [-1, 1], bit-identical."""
        return (y + 1.0) * 0.5 * self._span + self.normalizer.q_low

    @property
    def normalizer(self) -> NormStats | None:
        """Per-dimension quantile normaliser (roboalign.core.NormStats) fitted with the BPE."""
        return self._normalizer

    @normalizer.setter
    def normalizer(self, normalizer: NormStats) -> None:
        self._normalizer = normalizer
        span = normalizer.q_high - normalizer.q_low
        const = np.flatnonzero(span <= 0)
        self._span = span
        self._affine = (normalizer.q_low, np.where(span > 0, span, 1.0), const if const.size else None)

    def _encode_q(self, q: np.ndarray) -> list[int]:
        # Frequency-major flatten: q is [H(freq), D], so row-major puts the lowest frequency of
        # every dimension first and truncation only ever loses high frequencies.
        return self._bpe.encode_text(self._bpe.to_text(q.reshape(-1)))

    def _check_chunks(self, chunks, ndim: int, physical: bool = True) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("FastTokenizer is not fitted: call fit(chunks) or from_pretrained(dir)")
        x = np.asarray(chunks, dtype=np.float64)
        what = "[H, D]" if ndim == 2 else "[N, H, D]"
        if x.ndim != ndim or min(x.shape, default=0) < 1:
            raise ValueError(f"expected a chunk array {what}, got shape {x.shape}")
        if x.shape[-2] > self.max_horizon:
            raise ValueError(f"horizon {x.shape[-2]} > max_horizon {self.max_horizon} of this tokenizer")
        if physical and x.shape[-1] != self.normalizer.dim:
            raise ValueError(f"chunk has {x.shape[-1]} dims, tokenizer was fitted on {self.normalizer.dim}")
        if not np.isfinite(x.sum()) and not np.all(np.isfinite(x)):  # sum: the fast common case
            raise ValueError("chunk contains NaN or inf")
        return x

    # --- decode -------------------------------------------------------------------------------
    def decode(self, tokens, horizon: int, dim: int, strict: bool = False) -> DecodeResult:
        """FAST ids -> DecodeResult with actions [horizon, dim] in physical units."""
        return self.decode_batch([tokens], horizon, dim, strict)[0]

    def decode_normalized(self, tokens, horizon: int, dim: int, strict: bool = False) -> DecodeResult:
        """Like decode, but stays in normalised space: actions == normalized, any dim."""
        return self._decode_many([tokens], horizon, dim, strict, physical=False)[0]

    def decode_batch(self, token_lists, horizon: int, dim: int, strict: bool = False) -> list[DecodeResult]:
        """Decode many sequences of one shape; one vectorised inverse DCT for all of them."""
        return self._decode_many(token_lists, horizon, dim, strict, physical=True)

    def _decode_many(self, token_lists, horizon, dim, strict, physical) -> list[DecodeResult]:
        try:
            results = self._decode_unchecked(list(token_lists), horizon, dim, physical)
        except Exception as exc:  # last line of defence: a control loop must get a value back
            h, d = _safe_shape(horizon, dim)
            z = np.zeros((h, d))
            n = len(token_lists) if hasattr(token_lists, "__len__") else 1
            results = [DecodeResult(False, z.copy(), z.copy(), f"internal error: {exc!r}",
                                    "internal_error") for _ in range(n)]
        if strict:
            for i, r in enumerate(results):
                if not r.valid:
                    raise ValueError(f"invalid FAST token sequence #{i} ({r.code}): {r.reason}")
        return results

    def _decode_unchecked(self, token_lists: list, horizon, dim, physical) -> list[DecodeResult]:
        h, d = _safe_shape(horizon, dim)
        shape_problem = None
        if not self.fitted:
            shape_problem = ("not_fitted", "tokenizer is not fitted")
        elif h < 1 or d < 1 or h > self.max_horizon or d > MAX_DIM:
            shape_problem = ("bad_shape", f"horizon {horizon!r} / dim {dim!r} outside "
                             f"1..{self.max_horizon} / 1..{MAX_DIM}")
        elif physical and d != self.normalizer.dim:
            shape_problem = ("bad_shape", f"dim {d} != {self.normalizer.dim} dims the tokenizer was fitted on")
        if shape_problem is not None:
            code, why = shape_problem
            z = np.zeros((h, d))
            return [DecodeResult(False, z.copy(), z.copy(), why, code, _len(t)) for t in token_lists]

        n_sym = h * d
        q = np.zeros((len(token_lists), n_sym), dtype=np.int64)
        problems: list[list[tuple[str, str]]] = []
        for i, tokens in enumerate(token_lists):
            ids, probs = self._read_ids(tokens)
            sym = self._bpe.from_text(self._bpe.ids_to_text(ids)) if ids else _EMPTY
            if ids and sym.size < n_sym:
                probs.append(("too_short", f"{sym.size} symbols for {h}x{d}={n_sym}; "
                              "missing high frequencies set to 0"))
            elif sym.size > n_sym:
                probs.append(("too_long", f"{sym.size} symbols for {h}x{d}={n_sym}; extra dropped"))
            k = min(sym.size, n_sym)
            q[i, :k] = sym[:k]
            problems.append(probs)

        x = dct.dequantize(q.reshape(-1, h, d), self.scale)
        limit = 1.0 + self.bound(h) + 1e-9
        peak = np.abs(x).max(axis=(1, 2))
        x.clip(-1.0, 1.0, out=x)
        acts = self._unnormalize(x) if physical else x
        out = []
        for i, probs in enumerate(problems):
            if not probs and peak[i] > limit:
                # Every real encoding of a chunk in [-1, 1] decodes within the bound of it, so
                # this sequence cannot be the encoding of any chunk the tokenizer was built for.
                probs.append(("out_of_range", f"decoded |x| reaches {peak[i]:.3f} > {limit:.3f} "
                              "(normalised): not the encoding of any in-range chunk"))
            ok = not probs
            out.append(DecodeResult(ok, acts[i], x[i], "; ".join(p[1] for p in probs),
                                    "ok" if ok else probs[0][0], _len(token_lists[i])))
        return out

    def symbols(self, tokens) -> np.ndarray | None:
        """FAST ids -> the quantised DCT symbols they spell (frequency-major), or None when the
        ids are not all in this vocabulary. Stage 2's symbol-prefix reward compares these."""
        ids, probs = self._read_ids(tokens)
        if probs or not self.fitted:
            return None
        return np.asarray(self._bpe.from_text(self._bpe.ids_to_text(ids)), dtype=np.int64)

    def _read_ids(self, tokens) -> tuple[list[int], list[tuple[str, str]]]:
        """Tokens -> in-vocabulary ids (others dropped) and the problems found."""
        try:
            arr = np.asarray(tokens)
        except Exception:
            arr = None
        if arr is not None and arr.ndim == 1 and arr.dtype.kind in "iu":
            ids = arr.tolist()
        elif arr is not None and arr.size == 0:
            ids = []
        else:
            try:  # object arrays (huge Python ints), ragged input, generators, non-integers
                if isinstance(tokens, (str, bytes)):
                    raise TypeError
                ids = [operator.index(t) for t in tokens]
            except Exception:
                return [], [("not_integers", f"tokens must be a flat sequence of ints, got {type(tokens).__name__}")]
        if not ids:
            return [], [("empty", "no tokens")]
        v = self._bpe.vocab_size
        good = [t for t in ids if 0 <= t < v]
        probs = []
        if len(good) != len(ids):
            bad = [t for t in ids if not 0 <= t < v]
            shown = ", ".join(str(b) for b in bad[:3]) + (", ..." if len(bad) > 3 else "")
            probs.append(("unknown_token", f"{len(bad)} ids outside [0, {v}) dropped ({shown})"))
        return good, probs

    # --- save / load --------------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "scale": self.scale,
            "vocab_size": self.vocab_size, "requested_vocab_size": self.requested_vocab_size,
            "max_horizon": self.max_horizon, "quantiles": list(self.quantiles),
            "symbol_radius": self._bpe.radius, "char_base": CHAR_BASE, "fit": self.fit_summary,
            "norm_stats_digest": self.normalizer.digest() if self.normalizer else None,
        }

    def save_pretrained(self, directory: str | Path) -> Path:
        if not self.fitted:
            raise RuntimeError("nothing to save: fit the tokenizer first")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / BPE_FILE).write_text(self._bpe.to_json())
        self.normalizer.save(d / NORM_FILE)
        (d / CONFIG_FILE).write_text(json.dumps(self.config(), indent=2))
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> FastTokenizer:
        d = Path(directory)
        for name in (CONFIG_FILE, BPE_FILE, NORM_FILE):
            if not (d / name).is_file():
                raise FileNotFoundError(f"{d / name} missing: not a FastTokenizer folder "
                                        "(write one with save_pretrained or `roboalign tokenizer fit`)")
        cfg = json.loads((d / CONFIG_FILE).read_text())
        if cfg.get("format") != FORMAT or cfg.get("version") != VERSION:
            raise ValueError(f"{d / CONFIG_FILE}: format {cfg.get('format')} v{cfg.get('version')}, "
                             f"this code reads {FORMAT} v{VERSION}")
        tok = cls(cfg["scale"], cfg["requested_vocab_size"], cfg["max_horizon"], tuple(cfg["quantiles"]))
        if tok._bpe.radius != cfg["symbol_radius"] or cfg["char_base"] != CHAR_BASE:
            raise ValueError(f"{d}: symbol alphabet does not match this code's (radius/char base)")
        norm = NormStats.load(d / NORM_FILE)
        if norm.digest() != cfg["norm_stats_digest"]:
            raise ValueError(f"{d / NORM_FILE} does not match the digest in {CONFIG_FILE}: "
                             "the folder was edited or mixed with another tokenizer's files")
        tok._bpe = SymbolBPE.from_json(cfg["symbol_radius"], (d / BPE_FILE).read_text())
        tok.normalizer = norm
        tok.fit_summary = dict(cfg.get("fit", {}))
        return tok


_EMPTY = np.zeros(0, dtype=np.int64)


def _safe_shape(horizon, dim) -> tuple[int, int]:
    """(h, d) as non-negative ints for allocating a best-effort array; (0, 0) if unreadable."""
    try:
        h, d = operator.index(horizon), operator.index(dim)
    except Exception:
        return 0, 0
    h, d = max(h, 0), max(d, 0)
    if h * d > 1_000_000:  # absurd request: do not allocate it
        return 0, 0
    return h, d


def _len(tokens) -> int:
    try:
        return len(tokens)
    except Exception:
        return 0
