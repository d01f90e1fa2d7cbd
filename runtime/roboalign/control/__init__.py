"""Control: what turns action chunks into safe joint commands, in plain Python (no ROS).

executor.py (chunks -> one command per tick), safety.py (the safety filter every command passes),
observation.py (freshest streams -> Observation, with age and skew checks) and loop.py (the
direct closed loop: Robot + Policy + executor + safety + recorder hook). The ROS nodes wrap these.
"""
