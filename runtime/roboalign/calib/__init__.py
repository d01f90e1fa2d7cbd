"""Camera calibration against a printed ChArUco board; results go to calibration/<robot>/.

board.py       the board: description (board.yaml), printable image, corner detection
intrinsics.py  K and distortion from board views, with reprojection-error and coverage gates
handeye.py     the camera's pose on the arm (eye-in-hand, eye-to-hand), OpenCV's solvers,
               held-out errors in mm and degrees
files.py       the result files (ROS camera_info YAML, hand-eye YAML, poses.yaml)
report.py      the report image of detected and reprojected corners
synthetic.py   board views rendered with known intrinsics and poses (ground truth)
geometry.py    4x4 rigid transforms
cli.py         `roboalign calib board|intrinsics|handeye`
"""
