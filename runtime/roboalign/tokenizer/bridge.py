"""Bridge between FAST ids and an MLLM's vocabulary (transformers tokenizer + model).

RoboAlign adds `<ACTION_START>`, `<ACTION_END>` and one token per FAST id (`<act_0>` ..
`<act_{V-1}>`) to the MLLM tokenizer, so a completion reads
    <think>...</think><answer><ACTION_START><act_12><act_7>...<ACTION_END></answer>
The tokens are added as non-special AddedTokens (normalized=False) so that they are never split
and `decode(skip_special_tokens=True)` keeps them; transformers is imported only in attach().

Extraction from model output is tolerant, because a policy's output is untrusted: a missing
end marker, junk between action tokens, or unknown `<act_N>` ids are reported in the ActionSpan
(and make the decoded chunk invalid), never raised.

Saved beside the FAST files as `action_bridge.json` (marker strings, token format, and the
LLM ids seen at attach time, so a server can check its tokenizer matches).
"""
from __future__ import annotations

import dataclasses
import json
import operator
import re
from pathlib import Path

import numpy as np

from roboalign.tokenizer.fast import DecodeResult, FastTokenizer

BRIDGE_FILE = "action_bridge.json"


@dataclasses.dataclass(frozen=True)
class ActionSpan:
    """The action part of one generation, as FAST ids.

    fast_ids:    FAST ids found after <ACTION_START> (up to <ACTION_END> or the end).
    found_start: a start marker was present.  found_end: it was closed.
    junk:        anything else found inside the span (text pieces or foreign LLM ids as text).
    """

    fast_ids: list[int]
    found_start: bool
    found_end: bool
    junk: list[str]

    @property
    def valid(self) -> bool:
        return self.found_start and self.found_end and not self.junk and bool(self.fast_ids)

    @property
    def reason(self) -> str:
        why = []
        if not self.found_start:
            why.append("no action start marker")
        elif not self.found_end:
            why.append("action span not closed (end marker missing)")
        if self.found_start and not self.fast_ids:
            why.append("no action tokens in the span")
        if self.junk:
            shown = ", ".join(repr(j) for j in self.junk[:3]) + (", ..." if len(self.junk) > 3 else "")
            why.append(f"{len(self.junk)} foreign pieces inside the span ({shown})")
        return "; ".join(why)


class ActionTokenBridge:
    """Maps FAST ids <-> LLM ids and formats / extracts action spans."""

    def __init__(self, fast: FastTokenizer, start_token: str = "<ACTION_START>",
                 end_token: str = "<ACTION_END>", token_format: str = "<act_{}>"):
        if "{}" not in token_format:
            raise ValueError("token_format must contain '{}' for the FAST id, e.g. '<act_{}>'")
        if not fast.fitted:
            raise ValueError("the FastTokenizer must be fitted before it is bridged")
        self.fast = fast
        self.start_token, self.end_token, self.token_format = start_token, end_token, token_format
        head, tail = token_format.split("{}", 1)
        self._act_re = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
        self.start_id: int | None = None
        self.end_id: int | None = None
        self._fast_to_llm: np.ndarray | None = None
        self._llm_to_fast: dict[int, int] = {}

    @property
    def num_fast(self) -> int:
        return self.fast.vocab_size

    def action_token(self, fast_id: int) -> str:
        return self.token_format.format(int(fast_id))

    def new_tokens(self) -> list[str]:
        """Every string the bridge adds: the two markers, then one per FAST id in id order."""
        return [self.start_token, self.end_token] + [self.action_token(i) for i in range(self.num_fast)]

    # --- attach to an LLM -----------------------------------------------------------------------
    def attach(self, tokenizer, model=None, pad_to_multiple_of: int | None = None,
               mean_resizing: bool = True) -> int:
        """Add the tokens to `tokenizer` (idempotent) and grow `model`'s embeddings if needed.

        Returns how many tokens were new. Records the LLM ids for the id mappings.
        """
        from transformers import AddedToken

        new = [AddedToken(t, normalized=False, special=False, single_word=False, lstrip=False,
                          rstrip=False) for t in self.new_tokens()]
        added = tokenizer.add_tokens(new)
        self.bind(tokenizer)
        if model is not None:
            emb = model.get_input_embeddings()
            if emb.weight.shape[0] < len(tokenizer):
                model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=pad_to_multiple_of,
                                              mean_resizing=mean_resizing)
        return int(added)

    def bind(self, tokenizer) -> None:
        """Look the bridge's tokens up in a tokenizer that already holds them (e.g. a saved one)."""
        ids = tokenizer.convert_tokens_to_ids(self.new_tokens())
        unk = getattr(tokenizer, "unk_token_id", None)
        missing = [t for t, i in zip(self.new_tokens(), ids) if i is None or (unk is not None and i == unk)]
        if missing:
            raise ValueError(f"{len(missing)} action tokens are not in this tokenizer (first: {missing[0]}); "
                             "call attach(tokenizer) to add them")
        self.start_id, self.end_id = int(ids[0]), int(ids[1])
        self._fast_to_llm = np.asarray(ids[2:], dtype=np.int64)
        self._llm_to_fast = {int(llm): f for f, llm in enumerate(ids[2:])}

    def _require_bound(self) -> None:
        if self._fast_to_llm is None:
            raise RuntimeError("bridge is not attached to a tokenizer: call attach(tokenizer) or bind(tokenizer)")

    # --- id mappings ----------------------------------------------------------------------------
    def fast_to_llm(self, fast_ids) -> list[int]:
        """FAST ids -> LLM ids. Raises ValueError for ids outside the FAST vocabulary."""
        self._require_bound()
        f = np.asarray(fast_ids, dtype=np.int64).reshape(-1)
        if f.size and (f.min() < 0 or f.max() >= self.num_fast):
            raise ValueError(f"FAST ids must be in [0, {self.num_fast})")
        return self._fast_to_llm[f].tolist()

    def llm_to_fast(self, llm_ids) -> list[int]:
        """LLM ids -> FAST ids, -1 where an id is not an action token."""
        self._require_bound()
        return [self._llm_to_fast.get(int(i), -1) for i in llm_ids]

    def span_ids(self, fast_ids) -> list[int]:
        """LLM ids of a whole span, markers included (for labels, without re-tokenising text)."""
        return [self.start_id] + self.fast_to_llm(fast_ids) + [self.end_id]

    # --- text -------------------------------------------------------------------------------------
    def format_action(self, fast_ids) -> str:
        """'<ACTION_START><act_3><act_17>...<ACTION_END>'."""
        return self.start_token + "".join(self.token_format.format(int(i)) for i in fast_ids) + self.end_token

    def format_chunk(self, chunk: np.ndarray) -> str:
        """Physical chunk [H, D] -> action span text."""
        return self.format_action(self.fast.encode(chunk))

    def extract_from_text(self, text: str) -> ActionSpan:
        """Action span of the first <ACTION_START> in generated text; never raises."""
        if not isinstance(text, str):
            return ActionSpan([], False, False, [f"not text: {type(text).__name__}"])
        start = text.find(self.start_token)
        if start < 0:
            return ActionSpan([], False, False, [])
        body_start = start + len(self.start_token)
        end = text.find(self.end_token, body_start)
        body = text[body_start:] if end < 0 else text[body_start:end]
        fast_ids, junk, pos = [], [], 0
        for m in self._act_re.finditer(body):
            gap = body[pos:m.start()].strip()
            if gap:
                junk.append(gap)
            i = int(m.group(1))
            if i < self.num_fast:
                fast_ids.append(i)
            else:
                junk.append(m.group(0))
            pos = m.end()
        tail = body[pos:].strip()
        if tail:
            junk.append(tail)
        return ActionSpan(fast_ids, True, end >= 0, junk)

    def extract_from_ids(self, llm_ids, tokenizer=None, stop_ids=()) -> ActionSpan:
        """Action span of the first start id in generated LLM ids (a tokenizer names the junk).

        stop_ids (EOS, padding) trailing an unclosed span are not junk: generation just ended.
        Never raises on bad ids (the bridge must be attached): unreadable input is reported."""
        self._require_bound()
        try:
            ids = [operator.index(i) for i in np.asarray(llm_ids).reshape(-1).tolist()]
        except Exception:
            return ActionSpan([], False, False, [f"unreadable ids: {type(llm_ids).__name__}"])
        try:
            start = ids.index(self.start_id)
        except ValueError:
            return ActionSpan([], False, False, [])
        rest = ids[start + 1:]
        if self.end_id not in rest:
            stops = {int(t) for t in stop_ids}
            while rest and rest[-1] in stops:
                rest.pop()
        fast_ids, junk, found_end = [], [], False
        for i in rest:
            if i == self.end_id:
                found_end = True
                break
            f = self._llm_to_fast.get(i, -1)
            if f >= 0:
                fast_ids.append(f)
            else:
                junk.append(_name(tokenizer, i))
        return ActionSpan(fast_ids, True, found_end, junk)

    def decode_span(self, span: ActionSpan, horizon: int, dim: int, strict: bool = False) -> DecodeResult:
        """Decode a span's FAST ids; a malformed span makes the result invalid (reason kept)."""
        res = self.fast.decode(span.fast_ids, horizon, dim)
        if not span.valid:
            reason = span.reason + (f"; {res.reason}" if res.reason else "")
            res = dataclasses.replace(res, valid=False, reason=reason, code="bad_span")
        if strict and not res.valid:
            raise ValueError(f"invalid action span ({res.code}): {res.reason}")
        return res

    def decode_text(self, text: str, horizon: int, dim: int, strict: bool = False) -> DecodeResult:
        return self.decode_span(self.extract_from_text(text), horizon, dim, strict)

    def decode_ids(self, llm_ids, horizon: int, dim: int, strict: bool = False, stop_ids=()) -> DecodeResult:
        return self.decode_span(self.extract_from_ids(llm_ids, stop_ids=stop_ids), horizon, dim, strict)

    # --- save / load ------------------------------------------------------------------------------
    def config(self) -> dict:
        cfg = {"start_token": self.start_token, "end_token": self.end_token,
               "token_format": self.token_format, "num_fast": self.num_fast}
        if self._fast_to_llm is not None:
            f = self._fast_to_llm
            contiguous = bool(np.all(np.diff(f) == 1))
            cfg["llm_ids"] = {"start": self.start_id, "end": self.end_id,
                              "first_action": int(f[0]), "contiguous": contiguous}
        return cfg

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the FAST tokenizer and action_bridge.json into one folder."""
        d = self.fast.save_pretrained(directory)
        (d / BRIDGE_FILE).write_text(json.dumps(self.config(), indent=2))
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path, tokenizer=None) -> ActionTokenBridge:
        """Load FAST + bridge config; with `tokenizer`, bind and check the saved LLM ids."""
        d = Path(directory)
        if not (d / BRIDGE_FILE).is_file():
            raise FileNotFoundError(f"{d / BRIDGE_FILE} missing (write it with ActionTokenBridge.save_pretrained)")
        cfg = json.loads((d / BRIDGE_FILE).read_text())
        fast = FastTokenizer.from_pretrained(d)
        if cfg["num_fast"] != fast.vocab_size:
            raise ValueError(f"{d}: bridge covers {cfg['num_fast']} FAST ids, tokenizer has {fast.vocab_size}")
        bridge = cls(fast, cfg["start_token"], cfg["end_token"], cfg["token_format"])
        if tokenizer is not None:
            bridge.bind(tokenizer)
            saved = cfg.get("llm_ids")
            now = bridge.config().get("llm_ids")
            if saved is not None and saved != now:
                raise ValueError(f"tokenizer ids {now} differ from those saved with the bridge {saved}: "
                                 "this is not the tokenizer the model was trained with")
        return bridge


def _name(tokenizer, llm_id: int) -> str:
    """How a foreign id inside a span is reported: its token string if a tokenizer knows it."""
    if tokenizer is not None:
        try:
            tok = tokenizer.convert_ids_to_tokens(llm_id)
            if tok is not None:
                return str(tok)
        except Exception:
            pass
    return f"id:{llm_id}"
