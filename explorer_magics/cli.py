"""The ``explorer`` console script (and ``d``, short for ``explorer data``).

A thin face over the SDK: it parses arguments, builds one :class:`~explorer_magics.session.Session`
per command (from the environment and the config file), calls :mod:`explorer_magics.eos.transfer`
(and ``eos.fs`` for ``ls``) with it, and presents the result the way ``aws s3`` does (one line per
file, a progress line on a terminal, the same exit codes).

Adding a command: write ``add_<name>_command(subparsers)`` that builds its parser and sets
``func=<handler(args) -> int>``, and append it to :data:`COMMANDS`::

    def add_jobs_command(subparsers):
        parser = subparsers.add_parser("jobs", help="list and watch analyses")
        parser.set_defaults(func=_jobs)

Exit codes (as ``aws s3``): 0 done; 1 something failed (or ``ls`` found nothing); 2 bad
usage, or files were skipped (warnings) while everything else worked; 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .errors import ExplorerError

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


# -- the command registry ---------------------------------------------------------------------
def add_data_command(subparsers: Any) -> None:
    """``explorer data ...`` (the ``d`` command)."""
    parser = subparsers.add_parser(
        "data",
        help="list, copy, sync and delete files in EOS (alias: d)",
        description="List, copy, sync and delete files in EOS (e://users/me/, e://org/, e://public/).",
    )
    _fill_data_parser(parser)


#: every ``explorer`` subcommand; others append theirs (see the module docstring)
def _add_cloud_command(subparsers: Any) -> None:
    from .cli_cloud import add_cloud_parser

    add_cloud_parser(subparsers)


def _add_slurm_command(subparsers: Any) -> None:
    from .cli_slurm import add_slurm_parser

    add_slurm_parser(subparsers)


COMMANDS: list[Callable[[Any], None]] = [add_data_command, _add_cloud_command, _add_slurm_command]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explorer",
        description="Explorer for JupyterLab: run analyses at scale and keep their data in EOS.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``explorer COMMAND ...``"""
    parser = build_parser()
    return _dispatch(parser, argv)


def data_main(argv: Sequence[str] | None = None) -> int:
    """``d ...``: the same as ``explorer data ...``."""
    parser = argparse.ArgumentParser(
        prog="d",
        description="List, copy, sync and delete files in EOS (short for `explorer data`).",
    )
    _fill_data_parser(parser)
    return _dispatch(parser, argv)


def _dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:  # a command group without its subcommand: show that group's help
        (getattr(args, "help_parser", None) or parser).print_help(sys.stderr)
        return USAGE
    try:
        return int(func(args))
    except KeyboardInterrupt:
        print("\ncancelled: the transfers that had not finished were abandoned.", file=sys.stderr)
        return INTERRUPTED
    except ExplorerError as exc:
        print(f"fatal error: {exc}", file=sys.stderr)
        return FAILED
    except BrokenPipeError:  # `d ls | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return OK


# -- explorer data / d ------------------------------------------------------------------------
class _FilterAction(argparse.Action):
    """--exclude / --include, kept in the order given (the last match wins)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        from .eos.transfer import Filter

        filters = list(getattr(namespace, "filters", None) or [])
        filters.append(Filter(pattern=values, include=option_string == "--include"))
        namespace.filters = filters


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--only-show-errors", action="store_true", help="print errors and warnings only")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on a terminal")
    parser.add_argument("--dryrun", action="store_true", help="show what would happen, change nothing")


def _filter_options(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(filters=[])
    parser.add_argument("--exclude", metavar="PATTERN", action=_FilterAction, help="skip paths matching PATTERN")
    parser.add_argument("--include", metavar="PATTERN", action=_FilterAction, help="do not skip paths matching PATTERN")


def _fill_data_parser(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(help_parser=parser)
    sub = parser.add_subparsers(dest="data_command", metavar="COMMAND")

    ls = sub.add_parser("ls", help="list a folder (default e://users/me/)")
    ls.add_argument("uri", nargs="?", default=None, help="e://users/me/..., e://org/..., e://public/..., e://")
    ls.add_argument("-r", "--recursive", action="store_true", help="list everything below the folder")
    ls.add_argument("--human-readable", action="store_true", help="sizes in KiB, MiB, ...")
    ls.add_argument("--summarize", action="store_true", help="end with the number of objects and their total size")
    ls.set_defaults(func=_ls)

    cp = sub.add_parser("cp", help="copy local <-> EOS or EOS <-> EOS")
    cp.add_argument("src")
    cp.add_argument("dst")
    cp.add_argument("-r", "--recursive", action="store_true", help="copy a whole folder")
    _filter_options(cp)
    _output_options(cp)
    cp.set_defaults(func=_cp)

    sync = sub.add_parser("sync", help="copy only what changed from one folder to another")
    sync.add_argument("src")
    sync.add_argument("dst")
    sync.add_argument("--delete", action="store_true", help="delete what the source no longer has")
    _filter_options(sync)
    _output_options(sync)
    sync.set_defaults(func=_sync)

    rm = sub.add_parser("rm", help="delete an object (or a folder with -r)")
    rm.add_argument("uri")
    rm.add_argument("-r", "--recursive", action="store_true", help="delete everything below the folder")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask before deleting a folder")
    _filter_options(rm)
    _output_options(rm)
    rm.set_defaults(func=_rm)

    presign = sub.add_parser("presign", help="print a URL anyone can download the object with")
    presign.add_argument("uri")
    presign.add_argument(
        "--expires-in", type=int, default=48 * 3600, metavar="SECONDS", help="lifetime of the URL (default 48 h)"
    )
    presign.set_defaults(func=_presign)


def session_of(args: argparse.Namespace) -> Any:
    """The command's :class:`~explorer_magics.session.Session`, built on first use from the
    environment and the config file (``EXPLORER_USER``, ``EXPLORER_STORAGE``, ...)."""
    ctx = getattr(args, "session", None)
    if ctx is None:
        from .session import Session

        ctx = args.session = Session()
    return ctx


def _as(args: argparse.Namespace) -> dict[str, Any]:
    """``user=``, ``storage=`` of the command's session, for the EOS calls."""
    ctx = session_of(args)
    return {"user": ctx.user, "storage": ctx.storage}


def _ls(args: argparse.Namespace) -> int:
    from .eos.fs import ls

    lines = objects = total = 0
    out = sys.stdout
    for entry in ls(args.uri, recursive=args.recursive, **_as(args)):
        lines += 1
        if entry.is_dir:
            out.write(f"{'PRE':>30} {entry.name}\n")
            continue
        objects += 1
        total += entry.size or 0
        size = human_size(entry.size or 0) if args.human_readable else str(entry.size)
        out.write(f"{format_time(entry.mtime)} {size:>10} {entry.name}\n")
    if args.summarize:
        shown = human_size(total) if args.human_readable else str(total)
        out.write(f"\nTotal Objects: {objects}\n   Total Size: {shown}\n")
    return OK if lines else FAILED  # aws s3 ls: nothing there is exit 1


# -- how d shows things (aws s3's formats) ---------------------------------------------------
def format_time(mtime: float | None) -> str:
    """``2023-05-08 12:00:00`` in local time (the aws s3 ls format)."""
    if mtime is None:
        return " " * 19
    return dt.datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M:%S")


def human_size(size: int) -> str:
    """``1.2 MiB``: sizes as aws s3 --human-readable shows them."""
    value = float(size)
    for unit in ("Bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "Bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} Bytes"  # pragma: no cover


class _Console:
    """Shows a running plan the way ``aws s3`` does: a line per file on stdout, failures on
    stderr, and (on a terminal) one progress line on stderr, redrawn at most 10 times a second."""

    def __init__(
        self, args: argparse.Namespace, *, total_bytes: int, total_files: int, show_folders: bool = False
    ) -> None:
        self.show_folders = show_folders  # removed folders get a line only when no file does
        self.quiet = bool(getattr(args, "quiet", False))
        self.errors_only = self.quiet or bool(getattr(args, "only_show_errors", False))
        self.dryrun = bool(getattr(args, "dryrun", False))
        self.show_progress = (
            not self.errors_only and not getattr(args, "no_progress", False) and not self.dryrun and sys.stderr.isatty()
        )
        self.total_bytes = total_bytes
        self.total_files = total_files
        self.moved = 0
        self.files_done = 0
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.drawn = False
        self.lock = threading.Lock()

    def progress(self, nbytes: int) -> None:
        with self.lock:
            self.moved += nbytes
            self._draw()

    def finished(self, item: Any, error: str | None) -> None:
        with self.lock:
            if not item.is_folder:
                self.files_done += 1
            self._clear()
            if error is not None:
                what = item.describe().replace(f"{item.op}:", f"{item.op} failed:", 1)
                print(f"{what} {error}", file=sys.stderr)
            elif not self.errors_only and (self.show_folders or not item.is_folder):
                print(item.describe(dryrun=self.dryrun), flush=self.show_progress)
            self._draw()

    def _clear(self) -> None:
        if self.drawn:
            sys.stderr.write("\r\033[K")
            self.drawn = False

    def _draw(self, *, force: bool = False) -> None:
        if not self.show_progress:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < 0.1:
            return

        self.last_draw = now
        rate = self.moved / max(now - self.started, 1e-6)
        left = self.total_files - self.files_done
        line = (
            f"Completed {human_size(self.moved)}/{human_size(self.total_bytes)} "
            f"({human_size(int(rate))}/s) with {left} file(s) remaining"
        )
        sys.stderr.write("\r\033[K" + line)
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        with self.lock:
            self._clear()
            sys.stderr.flush()
            sys.stdout.flush()


def _run_plan(args: argparse.Namespace, plan: Any) -> int:
    from .eos.transfer import run

    for warning in plan.warnings:
        print(warning, file=sys.stderr)
    console = _Console(args, total_bytes=plan.total_bytes, total_files=len(plan.files), show_folders=not plan.files)
    try:
        result = run(plan, storage=session_of(args).storage, reporter=console, dryrun=args.dryrun)
    finally:
        console.close()
    if result.failed:
        return FAILED
    return USAGE if result.warnings else OK


def _cp(args: argparse.Namespace) -> int:
    from .eos.transfer import plan_cp

    return _run_plan(args, plan_cp(args.src, args.dst, recursive=args.recursive, filters=args.filters, **_as(args)))


def _sync(args: argparse.Namespace) -> int:
    from .eos.transfer import plan_sync

    return _run_plan(args, plan_sync(args.src, args.dst, delete=args.delete, filters=args.filters, **_as(args)))


def _rm(args: argparse.Namespace) -> int:
    from .eos.transfer import plan_rm

    plan = plan_rm(args.uri, recursive=args.recursive, filters=args.filters, **_as(args))
    if args.recursive and not plan.transfers:
        if not args.quiet:
            print(f"Nothing to delete below {args.uri}.", file=sys.stderr)
        return OK
    if args.recursive and plan.files and not args.yes and not args.dryrun:  # (empty folders: nothing to lose)
        question = (
            f"Delete {len(plan.files)} object(s) ({human_size(plan_bytes(plan))}) below "
            f"{args.uri}? This cannot be undone. [y/N] "
        )
        sys.stderr.write(question)
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing was deleted (answer y to delete, or pass --yes).", file=sys.stderr)
            return FAILED
    return _run_plan(args, plan)


def plan_bytes(plan: Any) -> int:
    return sum(t.size for t in plan.transfers)


def _presign(args: argparse.Namespace) -> int:
    from .eos.fs import presign

    print(presign(args.uri, expires_seconds=args.expires_in, **_as(args)))
    return OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
