#!/usr/bin/env bash
# Issue 19, alignment that helps: GRPO with the symbol-prefix reward from the grounded stage-1
# backbone, token metrics + k-NN probe before/after, then the same paper-design head recipe on
# the aligned backbone and the same 100 closed-loop seeds as scripts/research/paper_chain.sh.
#   scripts/research/align_chain.sh [HEAD_STEPS]
set -euo pipefail
STEPS=${1:-2000}
export OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
RA="python -m roboalign.cli"
mkdir -p outputs/research docs/results
t0=$(date +%s)
$RA train align --config configs/align_grounded_tiny.yaml
t1=$(date +%s); echo "align: $((t1 - t0)) s"
$RA eval compare --ckpt outputs/stage1_grounded --ckpt outputs/stage2_grounded --name stage1 --name aligned \
    --data outputs/sim_data/val --probe-data outputs/sim_data/train --max-frames 128 --threads 1 \
    --md docs/results/stage2_grounded_compare.md --json docs/results/stage2_grounded_compare.json
t2=$(date +%s); echo "compare: $((t2 - t1)) s"
$RA train head --config configs/head_paper_tiny.yaml --set backbone=outputs/stage2_grounded --set train.steps=$STEPS \
    --set train.output_dir=outputs/stage3_paper_aligned
t3=$(date +%s); echo "head: $((t3 - t2)) s"
$RA sim run --policy outputs/stage3_paper_aligned --episodes 100 --seed 10000 --json outputs/research/closed_loop_aligned.json
t4=$(date +%s); echo "closed loop: $((t4 - t3)) s"
python -m roboalign.eval.intervals outputs/research/closed_loop_grounded.json outputs/research/closed_loop_aligned.json
