"""`roboalign dataset info | export | view | recover`: inspect demonstrations, export them to LeRobot v3, look at one.

    roboalign dataset info demos/
    roboalign dataset recover demos/          # episode_N.mcap.active files a crash left
    roboalign dataset export demos/ --to lerobot --out exports/demos_v3 --repo-id lab/demos
    roboalign dataset view exports/demos_v3 --episode 0 --out view/

Sources: anything roboalign.data.sources.iter_episodes reads (project episode folders, LeRobot
v3/v2 folders, recordings). A source that cannot be read, an episode number out of range, or an
output folder in the way is a usage error (exit 2, one line).

Recordings torn by a crash (`episode_N.mcap.active`) are recovered when the next `roboalign
record` opens the folder, or by `dataset recover`, which runs that same routine
(recording_reader.recover_active). Until then `info` warns about each one and `export` refuses
(fail closed: an export must not silently miss a take). A file some process still has open (a
recorder writing it now) is never touched.
"""
from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
from pathlib import Path

from roboalign.arguments import int_range
from roboalign.errors import UsageError

_BAD_INPUT = (ValueError, OSError, KeyError)


def register(subparsers) -> None:
    p = subparsers.add_parser("dataset", help="inspect demonstrations, export to LeRobot v3, view an episode")
    sub = p.add_subparsers(dest="dataset_command", metavar="ACTION")

    info = sub.add_parser("info", help="episodes, frames, fps, features, tasks, success rate, durations")
    info.add_argument("path", type=Path, help="episode folders, a LeRobot dataset folder or recordings")
    info.add_argument("--json", type=Path, default=None, help="also write the summary as JSON here")
    info.set_defaults(func=_info)

    ex = sub.add_parser("export", help="write a LeRobotDataset v3.0 folder (parquet + one mp4 per camera)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ex.add_argument("source", type=Path, help="episode folders or recordings (any `dataset info` source)")
    ex.add_argument("--to", choices=("lerobot",), required=True, help="target format (LeRobotDataset v3.0)")
    ex.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    ex.add_argument("--repo-id", default="roboalign/demonstrations", help="the dataset's name (LeRobot repo_id)")
    ex.add_argument("--include-partial", action="store_true",
                    help="also export episodes flagged partial (recovered after a recorder crash)")
    ex.add_argument("--only-successful", action="store_true", help="leave out episodes not marked successful")
    ex.add_argument("--vcodec", choices=("libsvtav1", "h264"), default="libsvtav1",
                    help="libsvtav1: AV1 4:2:0 (LeRobot's default); h264: 4:4:4 lossless, ~2x larger")
    ex.add_argument("--crf", type=int_range(0, 63), default=None,
                    help="quality (lower = closer; default 10 for libsvtav1, 0 for h264)")
    ex.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    ex.add_argument("--json", type=Path, default=None, help="also write the export report here")
    ex.set_defaults(func=_export)

    view = sub.add_parser("view", help="joint/command plots and camera contact sheets of one episode as PNGs")
    view.add_argument("path", type=Path, help="any `dataset info` source")
    view.add_argument("--episode", type=int_range(0), default=0,
                      help="episode number: its episode_index in a LeRobot folder, else its place in sorted order")
    view.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    view.add_argument("--frames", type=int_range(1, 200), default=12, help="frames per contact sheet")
    view.add_argument("--rerun", type=Path, default=None, metavar="FILE.rrd",
                      help="also write a Rerun recording (needs rerun-sdk)")
    view.set_defaults(func=_view)
    rec = sub.add_parser("recover", help="seal, flag partial or quarantine the .active files a crashed recording left")
    rec.add_argument("path", type=Path, help="a folder of recordings (episode_NNNNNN.mcap)")
    rec.set_defaults(func=_recover)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _one_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_source(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path} does not exist")


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _unrecovered(path: Path) -> list[str]:
    """One warning line per `.active` file under `path` (size, age, what to do)."""
    import time

    from roboalign.data.recording_reader import find_active, processes_holding

    lines = []
    for f in find_active(path):
        st = f.stat()
        size = f"{st.st_size / 1e6:.1f} MB" if st.st_size >= 100_000 else f"{st.st_size / 1e3:.0f} KB"
        what = f"{size}, last written {_age(time.time() - st.st_mtime)} ago"
        pids = processes_holding(f)
        lines.append(f"warning: {f.relative_to(path)} ({what}) is being recorded now (open in pid "
                     f"{', '.join(map(str, pids))})" if pids else
                     f"warning: {f.relative_to(path)} ({what}) is an episode torn by a crash and not recovered: "
                     f"run `roboalign dataset recover {path}`")
    return lines


def _info(args: argparse.Namespace) -> int:
    from roboalign.data.summary import summarize

    _check_source(args.path)
    warnings = _unrecovered(args.path)
    try:
        summary = summarize(args.path)
    except _BAD_INPUT as exc:
        if warnings:
            print("\n".join(warnings))
        raise UsageError(f"{args.path}: {_one_line(exc)}") from None
    print("\n".join(summary.lines() + warnings))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**summary.to_dict(), "unrecovered": warnings}, indent=2))
    return 0


def _recover(args: argparse.Namespace) -> int:
    """The recorder's own recovery (recover_active) on every `.active` file not held open."""
    from roboalign.data.recording_reader import find_active, processes_holding, recover_active

    _check_source(args.path)
    if not args.path.is_dir():
        raise UsageError(f"{args.path} is not a folder of recordings")
    found = find_active(args.path)
    if not found:
        print(f"{args.path}: no .active files; nothing to recover")
        return 0
    counts = {"sealed": 0, "partial": 0, "quarantined": 0, "in use": 0}
    for f in found:
        pids = processes_holding(f)
        if pids:
            counts["in use"] += 1
            print(f"in use       {f.relative_to(args.path)}: open in pid {', '.join(map(str, pids))} "
                  "(a recorder is writing it): left alone")
            continue
        result = recover_active(f)
        word = {"recovered": "sealed", "partial": "partial", "quarantined": "quarantined"}[result.outcome]
        counts[word] += 1
        print(f"{word:<12} {result.message}")
    print(f"{len(found)} file(s): " + ", ".join(f"{n} {w}" for w, n in counts.items() if n))
    return 1 if counts["in use"] else 0


def _export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from roboalign.data.lerobot_v3 import ExportOptions, export_lerobot_v3
    from roboalign.data.sources import find_episode_dirs, iter_episodes
    from roboalign.data.video import codec

    _check_source(args.source)
    torn = _unrecovered(args.source)
    if torn:  # fail closed: an export that silently misses a take is worse than none
        raise UsageError(f"{args.source}: {len(torn)} unrecovered episode file(s) (*.mcap.active); "
                         f"run `roboalign dataset recover {args.source}` first (`dataset info` lists them)")
    if args.out.resolve() == args.source.resolve():
        raise UsageError("--out must be a new folder, not the source")
    if args.out.exists() and any(args.out.iterdir()) and not args.overwrite:
        raise UsageError(f"--out {args.out} exists and is not empty (pass --overwrite to replace it)")
    try:
        chosen = codec(args.vcodec, args.crf)
    except ValueError as exc:
        raise UsageError(f"--vcodec {args.vcodec}: {_one_line(exc)}") from None
    options = ExportOptions(repo_id=args.repo_id, codec=chosen, include_partial=args.include_partial,
                            only_successful=args.only_successful, overwrite=args.overwrite)
    found = iter_episodes(args.source, include_partial=True)
    try:  # the first episode read before the progress bar starts, so a bad source is one line
        first = next(found)
    except StopIteration:
        raise UsageError(f"{args.source}: no episodes in it") from None
    except _BAD_INPUT as exc:
        raise UsageError(f"{args.source}: {_one_line(exc)}") from None
    total = len(find_episode_dirs(args.source)) or None
    episodes = tqdm(itertools.chain([first], found), total=total, unit="ep", desc="export")
    try:
        report = export_lerobot_v3(episodes, args.out, options)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        raise UsageError(f"{args.source}: {_one_line(exc)}") from None
    finally:
        episodes.close()
    left = {"partial": report.skipped_partial, "unsuccessful": report.skipped_unsuccessful, "empty": report.skipped_empty}
    left_out = ", ".join(f"{len(names)} {why}" for why, names in left.items() if names)
    print(f"{report.episodes} episodes, {report.frames} frames at {report.fps} fps, {len(report.tasks)} tasks, "
          f"cameras {report.cameras or 'none'} ({chosen.name} {chosen.pix_fmt} crf {chosen.crf}) -> {report.root}"
          + (f"; left out {left_out}" if left_out else "") + f" ({report.seconds:.1f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2))
    return 0


def _pick(path: Path, index: int):
    from roboalign.data.lerobot import is_lerobot_dir, iter_lerobot_episodes
    from roboalign.data.sources import iter_episodes

    if is_lerobot_dir(path):
        found = list(iter_lerobot_episodes(path, episodes={index}))
        if not found:
            raise UsageError(f"--episode {index}: {path} has no episode_index {index}")
        return found[0]
    for i, item in enumerate(iter_episodes(path, include_partial=True)):
        if i == index:
            return item
    raise UsageError(f"--episode {index}: {path} holds only {i + 1 if 'i' in locals() else 0} episodes (numbered from 0)")


def _view(args: argparse.Namespace) -> int:
    from roboalign.data.view import contact_sheet, joint_plot, write_rerun

    _check_source(args.path)
    if args.rerun and importlib.util.find_spec("rerun") is None:
        raise UsageError("--rerun needs rerun-sdk, which is not installed (pip install rerun-sdk); "
                         "without --rerun the PNG plots and contact sheets need nothing more")
    try:
        name, ep = _pick(args.path, args.episode)
    except _BAD_INPUT as exc:
        raise UsageError(f"{args.path}: {_one_line(exc)}") from None
    written = [joint_plot(ep, args.out / "joints.png", title=name)]
    written += [contact_sheet(ep, cam, args.out / f"frames_{cam}.png", frames=args.frames) for cam in ep.images]
    if args.rerun:
        written.append(write_rerun(ep, args.rerun, name))
    print(f"episode {args.episode} ({name}): {len(ep)} steps, {ep.instruction!r}, "
          f"{'success' if ep.success else 'failure'}")
    for p in written:
        print(f"  {p}")
    return 0
