"""Pick MuJoCo's offscreen OpenGL backend before `mujoco` is imported.

MuJoCo reads MUJOCO_GL once, when the `mujoco` package is first imported, and PyOpenGL fixes its
platform on first import too, so the choice cannot be changed later in the process. Every sim
module therefore calls `configure_gl()` before `import mujoco`.

Order: an explicit MUJOCO_GL wins; otherwise EGL (GPU or Mesa's software device) if libEGL loads
and reports a device, else OSMesa if libOSMesa loads. The probe only loads shared libraries
(a few milliseconds); it never creates a context.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_INSTALL_HINT = (
    "install the Debian packages `libegl1 libgl1-mesa-dri` (EGL) or `libosmesa6` (OSMesa), "
    "or set MUJOCO_GL=egl|osmesa|glfw explicitly"
)


def _egl_has_device() -> bool:
    """True when libEGL loads and enumerates at least one device (GPU or Mesa software)."""
    for name in ("libEGL.so.1", ctypes.util.find_library("EGL")):
        if not name:
            continue
        try:
            egl = ctypes.CDLL(name)
        except OSError:
            continue
        get_proc = egl.eglGetProcAddress
        get_proc.restype = ctypes.c_void_p
        get_proc.argtypes = [ctypes.c_char_p]
        addr = get_proc(b"eglQueryDevicesEXT")
        if not addr:
            return False
        query = ctypes.CFUNCTYPE(
            ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int)
        )(addr)
        count = ctypes.c_int(0)
        ok = query(0, None, ctypes.byref(count))
        return bool(ok) and count.value > 0
    return False


def _osmesa_loads() -> bool:
    for name in ("libOSMesa.so.8", "libOSMesa.so.6", ctypes.util.find_library("OSMesa")):
        if not name:
            continue
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def configure_gl() -> str:
    """Set MUJOCO_GL (and PYOPENGL_PLATFORM) if unset; return the backend in use ("" = none).

    Safe to call many times. If `mujoco` was already imported by someone else without
    MUJOCO_GL, the choice is already made (MuJoCo's default, GLFW, which needs a display);
    we leave it and `render_error_hint()` explains how to fix it.
    """
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    if chosen or "mujoco" in sys.modules:
        return chosen
    if _egl_has_device():
        chosen = "egl"
    elif _osmesa_loads():
        chosen = "osmesa"
    else:
        return ""  # rendering will fail with render_error_hint(); physics still works
    os.environ["MUJOCO_GL"] = chosen
    os.environ.setdefault("PYOPENGL_PLATFORM", chosen)
    return chosen


def render_error_hint(exc: BaseException) -> str:
    """A readable message for a failed offscreen renderer."""
    backend = os.environ.get("MUJOCO_GL", "") or "<unset: MuJoCo's GLFW default, needs a display>"
    return (
        f"MuJoCo offscreen rendering failed (MUJOCO_GL={backend}): {exc}. To fix: {_INSTALL_HINT}; "
        "set it before anything imports mujoco. Pass cameras=() to SimArm to run without rendering."
    )
