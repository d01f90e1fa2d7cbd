"""Moved: the templated reasoning and its chat builder live in roboalign.policy.reasoning.

Kept only for training/align_config.py's import of ReasoningStyle (that file belongs to the
configuration work); import from roboalign.policy.reasoning in new code.
"""
from roboalign.policy.reasoning import ReasoningStyle

__all__ = ["ReasoningStyle"]
