"""Looking at one episode: joint plots and camera contact sheets as image files, or a Rerun recording.

    joint_plot(ep, "view/joints.png")            # per joint: measured position and commanded target
    contact_sheet(ep, "front", "view/front.png")  # evenly spaced frames with their times
    write_rerun(ep, "view/ep.rrd")                # needs rerun-sdk (optional)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from roboalign.data.episode import Episode, joint_names


def joint_plot(ep: Episode, path: str | Path, title: str = "") -> Path:
    """One panel per joint: measured position (solid) and commanded target (dashed) against time."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise ModuleNotFoundError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    names = joint_names(ep)
    dim = len(names)
    cols = 2 if dim > 3 else 1
    rows = int(np.ceil(dim / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 1.9 * rows + 0.8), sharex=True, squeeze=False)
    t = ep.timestamps
    for j, ax in enumerate(axes.flat):
        if j >= dim:
            ax.set_visible(False)
            continue
        ax.plot(t, ep.joint_positions[:, j], color="tab:blue", lw=1.4, label="measured")
        ax.plot(t, ep.actions[:, j], color="tab:orange", lw=1.2, ls="--", label="command")
        ax.set_ylabel(names[j])
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    axes.flat[0].legend(loc="best", fontsize=8)
    outcome = "success" if ep.success else "failure"
    fig.suptitle(f"{title}{': ' if title else ''}{ep.instruction!r} ({outcome}, {len(ep)} steps, dt {ep.dt:g} s)",
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def contact_sheet(ep: Episode, camera: str, path: str | Path, frames: int = 12, columns: int = 6) -> Path:
    """`frames` evenly spaced frames of `camera` in a grid, each labelled with its step and time."""
    from PIL import Image, ImageDraw

    images = ep.images[camera]
    picks = np.unique(np.round(np.linspace(0, len(images) - 1, min(frames, len(images)))).astype(int))
    h, w = images.shape[1:3]
    label_h = 14
    cols = min(columns, len(picks))
    rows = int(np.ceil(len(picks) / cols))
    sheet = Image.new("RGB", (cols * w, rows * (h + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, i in enumerate(picks):
        x, y = (k % cols) * w, (k // cols) * (h + label_h)
        sheet.paste(Image.fromarray(images[i]), (x, y + label_h))
        draw.text((x + 2, y + 1), f"#{i} {ep.timestamps[i]:.1f}s", fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def write_rerun(ep: Episode, path: str | Path, name: str = "episode") -> Path:
    """A Rerun recording (.rrd): joint positions and commands as scalars, camera frames as
    images, on a `time` timeline in seconds. Needs rerun-sdk."""
    try:
        import rerun as rr
    except ModuleNotFoundError:
        raise ModuleNotFoundError("--rerun needs rerun-sdk, which is not installed (pip install rerun-sdk); "
                                  "the PNG plots and contact sheets need nothing more") from None
    rec = rr.RecordingStream("roboalign_dataset_view", recording_id=name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec.save(str(path))
    names = joint_names(ep)
    scalar = getattr(rr, "Scalars", None) or rr.Scalar
    for i, t in enumerate(ep.timestamps):
        if hasattr(rec, "set_time"):
            rec.set_time("time", duration=float(t))
        else:  # rerun-sdk < 0.23
            rec.set_time_seconds("time", float(t))
        for j, joint in enumerate(names):
            rec.log(f"joints/{joint}/measured", scalar(float(ep.joint_positions[i, j])))
            rec.log(f"joints/{joint}/command", scalar(float(ep.actions[i, j])))
        for cam, frames in ep.images.items():
            rec.log(f"cameras/{cam}", rr.Image(frames[i]))
    rec.flush()
    return path
