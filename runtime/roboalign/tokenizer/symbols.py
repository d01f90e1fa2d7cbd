"""Integer DCT symbols <-> one unicode character each, and the BPE trained over them.

HF `tokenizers` BPE works on strings, so symbol s in [-R, R] becomes the character
chr(CHAR_BASE + s + R). CHAR_BASE is the start of the CJK Unified Ideographs block: 20,992
contiguous printable code points with no whitespace, no control characters and no
surrogates, so no normaliser or pre-tokenizer can split or rewrite them. The tokenizer has no
normaliser and no pre-tokenizer: one chunk is one "word" and merges may span dimensions and
frequencies, as in FAST.

Decoding does not go through the HF tokenizer: each BPE id maps to its symbol string through a
Python list built once (`id_to_text`), which is both faster and total (no unknown ids).
"""
from __future__ import annotations

import numpy as np

CHAR_BASE = 0x4E00
MAX_ALPHABET = 0x9FFF - 0x4E00 + 1


class SymbolBPE:
    """BPE over symbol strings for symbols in [-radius, radius]."""

    def __init__(self, radius: int, tokenizer=None):
        if radius < 1 or 2 * radius + 1 > MAX_ALPHABET:
            raise ValueError(
                f"symbol radius {radius} gives {2 * radius + 1} symbols; at most {MAX_ALPHABET} fit "
                "(lower scale or max_horizon)"
            )
        self.radius = int(radius)
        self._offset = CHAR_BASE + self.radius
        self._tok = None
        self.id_to_text: list[str] = []
        if tokenizer is not None:
            self._attach(tokenizer)

    @property
    def alphabet_size(self) -> int:
        return 2 * self.radius + 1

    @property
    def trained(self) -> bool:
        return self._tok is not None

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_text)

    def alphabet(self) -> list[str]:
        return [chr(CHAR_BASE + i) for i in range(self.alphabet_size)]

    # --- symbols <-> text -------------------------------------------------------------------
    def to_text(self, symbols: np.ndarray) -> str:
        """Flat int array in [-R, R] -> string (one character per symbol)."""
        codes = (np.asarray(symbols, dtype=np.int64) + self._offset).astype("<u4")
        return codes.tobytes().decode("utf-32-le")

    def from_text(self, text: str) -> np.ndarray:
        """String of alphabet characters -> flat int64 symbols."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        return codes.astype(np.int64) - self._offset

    # --- BPE ----------------------------------------------------------------------------------
    def train(self, texts, vocab_size: int) -> None:
        """Train BPE on symbol strings; every alphabet symbol is always in the vocabulary."""
        from tokenizers import Tokenizer, models, trainers

        if vocab_size < self.alphabet_size:
            raise ValueError(
                f"vocab_size {vocab_size} is smaller than the symbol alphabet ({self.alphabet_size} "
                "symbols for this scale and max_horizon): raise vocab_size, or lower scale/max_horizon"
            )
        tok = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,  # a merge seen once is noise, not structure
            show_progress=False,
            special_tokens=[],
            initial_alphabet=self.alphabet(),
            limit_alphabet=self.alphabet_size,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        self._attach(tok)

    def _attach(self, tok) -> None:
        vocab = tok.get_vocab()
        n = len(vocab)
        table = [""] * n
        for text, i in vocab.items():
            if not 0 <= i < n:
                raise ValueError("BPE vocabulary ids are not contiguous from 0; file is corrupt")
            table[i] = text
        alphabet = set(self.alphabet())
        missing = alphabet.difference(table)
        if missing:
            raise ValueError(f"BPE vocabulary lacks {len(missing)} alphabet symbols; file is corrupt")
        if any(not t or any(c not in alphabet for c in t) for t in table):
            raise ValueError("BPE vocabulary holds a token outside the symbol alphabet; file is corrupt")
        self._tok = tok
        self.id_to_text = table

    def encode_text(self, text: str) -> list[int]:
        # The model alone: with no normaliser, pre-tokenizer, added or special tokens the full
        # pipeline (Tokenizer.encode) gives the same ids, at twice the cost (offsets, Encoding).
        return [t.id for t in self._tok.model.tokenize(text)]

    def encode_texts(self, texts: list[str]) -> list[list[int]]:
        tokenize = self._tok.model.tokenize
        return [[t.id for t in tokenize(s)] for s in texts]

    def ids_to_text(self, ids) -> str:
        """Ids (already checked to be in range) -> concatenated symbol string."""
        table = self.id_to_text
        return "".join([table[i] for i in ids])

    def to_json(self) -> str:
        return self._tok.to_str()

    @classmethod
    def from_json(cls, radius: int, text: str) -> SymbolBPE:
        from tokenizers import Tokenizer

        return cls(radius, Tokenizer.from_str(text))
