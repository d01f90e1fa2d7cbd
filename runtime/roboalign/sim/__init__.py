"""Simulation: the MuJoCo arm (a core.Robot), its tasks, the scripted expert and seeded
episodes run through the one control loop (episodes.py). No loop of its own.
"""
