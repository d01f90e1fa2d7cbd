"""Camera calibration (DESIGN.md's target folder; nothing here yet): ChArUco intrinsics and
hand-eye extrinsics, written to calibration/<robot>/ as YAML."""
