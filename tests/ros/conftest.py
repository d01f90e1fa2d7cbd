"""Fixtures of the ROS tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def context(ros_domain_id):
    """An rclpy context of this test's own, on its own ROS_DOMAIN_ID; shut down afterwards."""
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(args=[], context=ctx, domain_id=ros_domain_id)
    yield ctx
    rclpy.try_shutdown(context=ctx)
