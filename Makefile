# RoboAlign Runtime: two commands. Each builds .venv on first use.
PY ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_WHEEL_DIR ?= /opt/wheels
EXTRAS ?= ros,train,export,realsense,kinematics,data,dev
DEMO_EPISODES ?= 5

export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: demo test venv deps clean-venv lerobot-env

demo: $(STAMP)
	$(VENV)/bin/roboalign rollout --sim --policy expert --episodes $(DEMO_EPISODES) --seed 0 --json demo_rollout.json

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VPY) -m pytest -q -x --durations=15

venv: $(STAMP)

# Debian packages: EGL/OSMesa for MuJoCo offscreen rendering, libusb for pyrealsense2.
deps:
	@./scripts/install_debian_deps.sh

$(STAMP): pyproject.toml ros2_ws/src/roboalign_ros/setup.py
	@$(MAKE) --no-print-directory deps
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	# torch first: a CPU build lies on disk here; an unpinned torch would pull a multi-GB CUDA build.
	$(VPY) -m pip install -q --find-links $(TORCH_WHEEL_DIR) torch==2.13.0
	$(VPY) -m pip install -q -e ".[$(EXTRAS)]"
	# The ROS 2 nodes (ament_python package) beside rclpy; setuptools came with the ros extra.
	$(VPY) -m pip install -q --no-build-isolation --no-deps -e ros2_ws/src/roboalign_ros
	@touch $(STAMP)

clean-venv:
	rm -rf $(VENV)

# The `lerobot` package in its own venv, only to check that our LeRobot v3 exports load there
# (scripts/check_lerobot_export.py). lerobot 0.4.4 pins torch<2.11, so it gets the registry's
# torch 2.10 (with its CUDA libraries: ~4 GB of wheels), never the project's venv. CI does not need it.
LEROBOT_VENV ?= .venv-lerobot
lerobot-env: $(LEROBOT_VENV)/.installed

$(LEROBOT_VENV)/.installed:
	@test -x $(LEROBOT_VENV)/bin/python || $(PY) -m venv $(LEROBOT_VENV)
	$(LEROBOT_VENV)/bin/python -m pip install -q --upgrade pip
	$(LEROBOT_VENV)/bin/python -m pip install -q lerobot==0.4.4
	@touch $@
