"""Training: stage 1 (SFT on FAST tokens), stage 2 (GRPO alignment), stage 3 (flow-matching
head), each a config (loaded through roboalign.config) and a run; data generation and mixing.
"""
