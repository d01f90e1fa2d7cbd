"""Data: every episode format the project reads or writes (episode records, readers of
project and LeRobot-style folders, training samples) and the control loop's episode recorder.
"""
