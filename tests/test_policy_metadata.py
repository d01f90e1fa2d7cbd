"""PolicyMetadata: one record for every policy, its wire form, and the batch-policy protocol."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from roboalign.core import BatchPolicy, Observation, Policy, PolicyMetadata
from roboalign.errors import ConfigError
from roboalign.policy.noop import NoopPolicy
from roboalign.serving.client import RemotePolicy
from roboalign.serving.server import PolicyServer, ServerStartError
from roboalign.sim.arm import sim_robot_spec


def _expert():
    from roboalign.sim.expert import ScriptedExpert

    return ScriptedExpert()


def test_every_builtin_policy_returns_a_record_that_survives_its_wire_form():
    for policy in (_expert(), NoopPolicy(horizon=4), NoopPolicy(robot=sim_robot_spec())):
        meta = policy.metadata()
        assert isinstance(meta, PolicyMetadata)
        wire = meta.to_dict()
        assert set(wire) == {f.name for f in dataclasses.fields(PolicyMetadata)}  # every key, always
        assert PolicyMetadata.from_dict(wire) == meta and PolicyMetadata.from_dict(wire).to_dict() == wire


def test_the_record_reads_as_its_wire_mapping():
    spec = sim_robot_spec()
    meta = NoopPolicy(horizon=5, robot=spec, cameras=("front", "wrist")).metadata()
    assert meta["robot"] == spec.to_dict() and meta.robot.joint_names == spec.joint_names
    assert meta["cameras"] == ["front", "wrist"] and meta.get("model_id") == "noop"
    assert meta["action_dim"] == spec.dof == meta.action_dim  # derived from the robot
    assert dict(meta) == meta.to_dict() and "privileged_inputs" in meta
    with pytest.raises(KeyError):
        meta["family"]


def test_only_the_scripted_expert_asks_for_privileged_sim_inputs():
    arm_obs_keys = {"target_position", "pad_position"}  # what SimArm.observation's privileged holds
    assert set(_expert().metadata().privileged_inputs) <= arm_obs_keys
    assert _expert().metadata()["privileged_inputs"] == ["target_position", "pad_position"]
    assert NoopPolicy().metadata().privileged_inputs == ()


@pytest.mark.parametrize("key, hint", [("chunk_lenght", "did you mean chunk_length"), ("family", "valid keys")])
def test_unknown_keys_are_refused_and_named(key, hint):
    wire = NoopPolicy().metadata().to_dict()
    wire[key] = 1
    with pytest.raises(ConfigError, match=f"{key}: unknown key; .*{hint}"):
        PolicyMetadata.from_dict(wire)


@pytest.mark.parametrize("change, match", [
    ({"chunk_length": 0}, "chunk_length must be a positive integer"),
    ({"control_period": float("nan")}, "control_period"),
    ({"image_size": [128]}, "height, width"),
    ({"cameras": "front"}, "list of names"),
    ({"privileged_inputs": ["x", "x"]}, "distinct"),
    ({"action_dim": 3, "robot": sim_robot_spec().to_dict()}, "differs from the robot's 7 joints"),
])
def test_impossible_values_are_refused(change, match):
    wire = {**NoopPolicy().metadata().to_dict(), **change}
    with pytest.raises(ValueError, match=match):
        PolicyMetadata.from_dict(wire)


def test_missing_required_fields_are_named():
    with pytest.raises(ValueError, match="missing chunk_length, control_period"):
        PolicyMetadata.from_dict({"policy": "x", "model_id": "m"})


def test_deployment_problem_refuses_no_robot_anywhere_and_privileged_inputs_outside_simulation():
    from roboalign.policy.noop import NoopPolicy
    from roboalign.sim.expert import ScriptedExpert

    expert = ScriptedExpert().metadata()
    assert expert.deployment_problem(simulation=True) is None
    assert "exist only in simulation" in expert.deployment_problem(simulation=False)
    noop = NoopPolicy().metadata()
    assert "declares no robot" in noop.deployment_problem(simulation=True)
    learned = dataclasses.replace(expert, privileged_inputs=())
    assert learned.deployment_problem(simulation=False) is None


def test_batch_policy_is_recognised_by_its_method_not_by_name():
    assert isinstance(NoopPolicy(), BatchPolicy) and isinstance(NoopPolicy(), Policy)
    assert isinstance(_expert(), Policy) and not isinstance(_expert(), BatchPolicy)


def test_remote_policy_hands_back_the_same_record(free_tcp_endpoint):
    policy = NoopPolicy(horizon=3, robot=sim_robot_spec())
    with PolicyServer(policy, free_tcp_endpoint, warmup_iters=0) as server:
        with RemotePolicy(server.endpoint, timeout_s=5.0) as remote:
            meta = remote.metadata()
    assert isinstance(meta, PolicyMetadata) and meta == policy.metadata()
    assert meta["robot"]["joint_names"][-1] == "gripper"  # what the ROS policy node reads


def test_server_refuses_to_start_a_policy_with_drifting_metadata(free_tcp_endpoint):
    class Drifting(NoopPolicy):
        def metadata(self):
            return {**super().metadata().to_dict(), "family": "qwen"}

    with pytest.raises(ServerStartError, match="Drifting.metadata.*family: unknown key"):
        PolicyServer(Drifting(), free_tcp_endpoint, warmup_iters=0).start()


def test_server_batches_only_batch_policies(free_tcp_endpoint):
    obs = Observation(images={}, joint_positions=np.zeros(7))
    with PolicyServer(_expert(), free_tcp_endpoint, max_batch=4, warmup_iters=0) as server:
        assert server.metadata["server"]["max_batch"] == 1
    assert NoopPolicy().infer_batch([obs, obs])[1].actions.shape == (16, 7)
