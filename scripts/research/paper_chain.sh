#!/usr/bin/env bash
# Issue 19, the paper's design on the grounded backbone: localisation probe, head on frozen
# features only, 100 held-out closed-loop episodes with a Wilson interval. Usage:
#   scripts/research/paper_chain.sh BACKBONE NAME [HEAD_STEPS]
# e.g. scripts/research/paper_chain.sh outputs/stage1_grounded grounded 2000
# Writes outputs/research/{locate,closed_loop}_NAME.json and outputs/stage3_paper_NAME/.
set -euo pipefail
BB=$1; NAME=$2; STEPS=${3:-2000}
export OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
RA="python -m roboalign.cli"
mkdir -p outputs/research
t0=$(date +%s)
$RA eval locate --config configs/head_paper_tiny.yaml --set backbone=$BB --json outputs/research/locate_$NAME.json
t1=$(date +%s); echo "locate: $((t1 - t0)) s"
$RA train head --config configs/head_paper_tiny.yaml --set backbone=$BB --set train.steps=$STEPS \
    --set train.output_dir=outputs/stage3_paper_$NAME
t2=$(date +%s); echo "head: $((t2 - t1)) s"
$RA sim run --policy outputs/stage3_paper_$NAME --episodes 100 --seed 10000 --json outputs/research/closed_loop_$NAME.json
t3=$(date +%s); echo "closed loop: $((t3 - t2)) s"
python -m roboalign.eval.intervals outputs/research/closed_loop_$NAME.json
