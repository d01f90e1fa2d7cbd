"""Policies: the MLLM backbone, the flow-matching action head, the VLA and FAST-token
policies, prompts and chats, the policy registry (`--policy expert|noop|PATH`), checkpoint
integrity checks and backends/ (serve-time head runners: torch, onnxruntime, TensorRT).
"""
