"""Action frames: delta targets are invertible and keep the gripper absolute."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from roboalign.policy.actions import from_frame, to_frame

finite = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(chunk=arrays(np.float64, (4, 3), elements=finite), state=arrays(np.float64, (3,), elements=finite),
       frame=st.sampled_from(["absolute", "delta"]))
def test_from_frame_inverts_to_frame(chunk, state, frame):
    back = from_frame(to_frame(chunk, state, frame, (2,)), state, frame, (2,))
    np.testing.assert_allclose(back, chunk, atol=1e-9)


def test_delta_frame_subtracts_the_state_except_absolute_dims():
    chunk = np.array([[1.0, 2.0, 0.5], [1.5, 2.5, 1.0]])
    d = to_frame(chunk, np.array([1.0, 2.0, 0.3]), "delta", absolute_dims=(2,))
    np.testing.assert_allclose(d, [[0.0, 0.0, 0.5], [0.5, 0.5, 1.0]])


def test_batched_chunks_use_their_own_state():
    chunks = np.ones((2, 3, 2))
    states = np.array([[1.0, 0.0], [0.0, 1.0]])
    d = to_frame(chunks, states, "delta")
    np.testing.assert_allclose(d[0], [[0, 1]] * 3)
    np.testing.assert_allclose(d[1], [[1, 0]] * 3)


def test_unknown_frame_and_bad_dims_are_refused():
    with pytest.raises(ValueError, match="unknown action frame"):
        to_frame(np.zeros((2, 2)), np.zeros(2), "relative")
    with pytest.raises(ValueError, match="out of range"):
        to_frame(np.zeros((2, 2)), np.zeros(2), "delta", (5,))
