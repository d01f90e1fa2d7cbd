"""Typed records shared by every part of RoboAlign: the project's common language.

Data flows one way (sensors -> Observation -> policy -> ActionChunk -> executor -> safety ->
driver); every stage speaks in these records and nothing downstream imports upstream internals.
"""
from roboalign.core.action import ActionChunk
from roboalign.core.camera import Camera, Frame, Intrinsics, StaleFrameError
from roboalign.core.normalization import NormStats
from roboalign.core.observation import Observation
from roboalign.core.policy import BatchPolicy, Policy, PolicyMetadata
from roboalign.core.robot import JointLimits, JointState, Robot, RobotSpec

__all__ = ["JointLimits", "RobotSpec", "Observation", "ActionChunk", "NormStats", "Policy", "BatchPolicy",
           "PolicyMetadata", "Camera", "Frame", "Intrinsics", "StaleFrameError", "JointState", "Robot"]
