import numpy as np
import pytest
import yaml

from roboalign.core import ActionChunk, JointLimits, NormStats, Observation, RobotSpec
from roboalign.errors import ConfigError


def _spec() -> RobotSpec:
    return RobotSpec(
        name="arm",
        joint_names=("j1", "j2", "gripper"),
        limits=JointLimits(
            lower=[-1, -2, 0], upper=[1, 2, 1], max_velocity=[1, 1, 2], max_acceleration=[5, 5, 10]
        ),
        control_rate_hz=50,
        gripper_index=2,
    )


def test_robot_spec_round_trips_through_yaml(tmp_path):
    spec = _spec()
    spec.save(tmp_path / "r.yaml")
    back = RobotSpec.load(tmp_path / "r.yaml")
    assert back.joint_names == spec.joint_names
    np.testing.assert_array_equal(back.limits.upper, spec.limits.upper)
    assert back.control_period == pytest.approx(0.02)
    assert back.gripper_index == 2


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["limits"].update(max_velocty=d["limits"].pop("max_velocity")),
     r"r\.yaml: robot spec limits: max_velocty: unknown key; did you mean max_velocity\?"),
    (lambda d: d.update(control_rate=d.pop("control_rate_hz")),
     r"robot spec: control_rate: unknown key; did you mean control_rate_hz\?"),
    (lambda d: d["limits"].pop("upper"), "missing the field 'upper'"),
])
def test_robot_spec_yaml_with_a_misspelt_or_missing_limit_is_refused_by_name(tmp_path, edit, match):
    """A typo in a limit must never leave the arm with no limit or a default one."""
    data = _spec().to_dict()
    edit(data)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match):
        RobotSpec.load(tmp_path / "r.yaml")


def test_joint_limits_reject_inverted_nonfinite_and_mismatched():
    with pytest.raises(ValueError, match="below"):
        JointLimits(lower=[1], upper=[0], max_velocity=[1], max_acceleration=[1])
    with pytest.raises(ValueError, match="finite"):
        JointLimits(lower=[np.nan], upper=[0], max_velocity=[1], max_acceleration=[1])
    with pytest.raises(ValueError, match="entries"):
        JointLimits(lower=[0, 0], upper=[1], max_velocity=[1], max_acceleration=[1])
    with pytest.raises(ValueError, match="positive"):
        JointLimits(lower=[0], upper=[1], max_velocity=[0], max_acceleration=[1])


def test_robot_spec_rejects_name_count_mismatch():
    lim = JointLimits(lower=[0], upper=[1], max_velocity=[1], max_acceleration=[1])
    with pytest.raises(ValueError, match="joint names"):
        RobotSpec(name="x", joint_names=("a", "b"), limits=lim, control_rate_hz=10)


def test_observation_validates_images():
    Observation(images={"front": np.zeros((4, 4, 3), np.uint8)}, joint_positions=[0, 1])
    with pytest.raises(ValueError, match="uint8"):
        Observation(images={"front": np.zeros((4, 4, 3), np.float32)}, joint_positions=[0])
    with pytest.raises(ValueError, match="uint8"):
        Observation(images={"front": np.zeros((4, 4), np.uint8)}, joint_positions=[0])


def test_action_chunk_times_and_validation():
    c = ActionChunk(actions=np.zeros((16, 7)), start_time=10.0, dt=0.1, provenance="expert")
    assert c.horizon == 16 and c.dim == 7
    assert c.end_time == pytest.approx(11.5)
    np.testing.assert_allclose(c.times()[:2], [10.0, 10.1])
    with pytest.raises(ValueError):
        ActionChunk(actions=np.zeros((0, 7)), start_time=0, dt=0.1)
    with pytest.raises(ValueError):
        ActionChunk(actions=np.zeros((4, 7)), start_time=0, dt=0.0)
    assert not ActionChunk(actions=np.full((2, 2), np.nan), start_time=0, dt=0.1).is_finite()


def test_norm_stats_fit_normalize_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 16, 3)) * [1.0, 5.0, 0.0] + [0.0, 2.0, 3.0]
    stats = NormStats.fit(x)
    y = stats.normalize(x)
    assert y.min() >= -1 and y.max() <= 1
    assert np.all(y[..., 2] == 0)  # constant dimension maps to 0
    inside = (x[..., 1] > stats.q_low[1]) & (x[..., 1] < stats.q_high[1])
    np.testing.assert_allclose(stats.unnormalize(y)[..., 1][inside], x[..., 1][inside], atol=1e-9)
    stats.save(tmp_path / "s.json")
    back = NormStats.load(tmp_path / "s.json")
    assert back.digest() == stats.digest()
    with pytest.raises(ValueError, match="NaN"):
        NormStats.fit(np.array([[np.nan]]))


def test_a_frame_refuses_depth_or_intrinsics_that_do_not_fit_its_image():
    from roboalign.core.camera import Frame, Intrinsics

    image = np.zeros((4, 6, 3), np.uint8)
    Frame(image, 1.0, 1, depth=np.zeros((4, 6), np.uint16), intrinsics=Intrinsics(6, 4, 5.0, 5.0, 3.0, 2.0))
    with pytest.raises(ValueError, match="uint16 millimetres"):
        Frame(image, 1.0, 1, depth=np.zeros((4, 6), np.float32))
    with pytest.raises(ValueError, match="uint16 millimetres"):
        Frame(image, 1.0, 1, depth=np.zeros((6, 4), np.uint16))
    with pytest.raises(ValueError, match="intrinsics are for 640x480"):
        Frame(image, 1.0, 1, intrinsics=Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0))


def test_intrinsics_refuse_nonsense_and_give_their_camera_matrix():
    from roboalign.core.camera import Intrinsics

    k = Intrinsics(640, 480, 600.0, 601.0, 320.5, 240.5, "plumb_bob", (0.1, 0, 0, 0, 0))
    np.testing.assert_array_equal(k.matrix(), [[600.0, 0, 320.5], [0, 601.0, 240.5], [0, 0, 1]])
    with pytest.raises(ValueError, match="fx, fy must be positive"):
        Intrinsics(640, 480, 0.0, 600.0, 320.0, 240.0)
    with pytest.raises(ValueError, match="distortion_model 'fisheye'"):
        Intrinsics(640, 480, 600.0, 600.0, 320.0, 240.0, "fisheye")
