"""How well a backbone answers the grounding VQA itself (held-out questions, greedy decoding).

    python -m roboalign.training.grounding_eval CKPT outputs/sim_data/val/grounding/vqa.jsonl [--max 240]

Per question type: exact-match rate; for locate_table the median xy error (cm) of the answers
that parse (training/grounding.parse_table_answer) and the parse rate. This says whether stage 1
learned to locate when *asked*, which the localisation probe (training/locate_probe.py) cannot tell apart
from "the action prompt's features do not carry it".
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

import numpy as np


def evaluate(ckpt: str, path: str, max_questions: int = 240, batch: int = 16) -> dict:
    import torch

    from roboalign.policy import prompts
    from roboalign.policy.backbone import Backbone, to_pil
    from roboalign.training.grounding import parse_table_answer
    from roboalign.training.vqa import VQASource

    torch.set_num_threads(1)
    bb = Backbone.from_pretrained(ckpt, dtype="float32")
    src = VQASource(path)
    idx = np.random.default_rng(0).permutation(len(src))[:max_questions]
    hits, errs, parsed, counts = defaultdict(int), [], 0, defaultdict(int)
    for start in range(0, len(idx), batch):
        samples = [src[int(i)] for i in idx[start:start + batch]]
        rows = [src.rows[int(i)] for i in idx[start:start + batch]]
        chats = [prompts.vqa_chat(s.question, s.cameras, None, bb.prompt_format) for s in samples]
        gen = bb.generate_chats(chats, [[to_pil(p) for p in s.images] for s in samples], max_new_tokens=16)
        for s, r, text in zip(samples, rows, gen.texts):
            answer = text.replace(prompts.IM_END, "").strip()
            counts[r["type"]] += 1
            hits[r["type"]] += int(answer == s.answer)
            if r["type"] == "locate_table":
                xy = parse_table_answer(answer)
                if xy is not None:
                    parsed += 1
                    errs.append(float(np.linalg.norm(xy - parse_table_answer(s.answer))) * 100)
    out = {t: {"n": counts[t], "exact": hits[t] / counts[t]} for t in counts}
    if counts["locate_table"]:
        out["locate_table"].update(parse_rate=parsed / counts["locate_table"],
                                   median_cm=float(np.median(errs)) if errs else None,
                                   within_3cm=float(np.mean(np.array(errs) < 3.0)) if errs else None)
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ckpt")
    p.add_argument("vqa")
    p.add_argument("--max", type=int, default=240)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    res = evaluate(a.ckpt, a.vqa, a.max)
    text = json.dumps(res, indent=2)
    print(text)
    if a.json:
        open(a.json, "w").write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
