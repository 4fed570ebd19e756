"""Run ONE element of an analysis — the same code on this machine and on a cluster node.

As a command (what a cluster container runs)::

    python -m explorer_magics.runner --analysis <id> [--index N] [--user U]

The element index comes from ``--index``, else ``AWS_BATCH_JOB_ARRAY_INDEX`` (array jobs),
else 0; with ``EXPLORER_INDICES`` (the storage key of a job that runs only some elements), that
number picks the element from the job's list (4-byte little-endian indices). Storage and user
come from the usual settings (``EXPLORER_STORAGE``, ...). The runner never prints the
environment: credentials live there.
"""

from __future__ import annotations

import argparse
import errno
import functools
import hashlib
import inspect
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from . import records
from .context import AnalysisContext, OutputCollector
from .definitions import GlobalConfig, InputShared, JobDefinition
from .errors import ExplorerError, is_no_space, no_space_reason
from .observe.labels import input_label as default_label
from .observe.labels import unpack_labels
from .observe.measure import Meter, hostname
from .records import FAILED, RUNNING, SUCCEEDED, ElementStatus, Layout, Manifest
from .serialize import dumps, loads
from .session import Session
from .session import use as use_session
from .storage.base import Storage

#: the exit code of an element process that ran out of disk space and could not even record that
NO_SPACE_EXIT = errno.ENOSPC


def exit_reason(code: int, job_definition: dict[str, Any], *, oom_killed: bool = False) -> str:
    """Why an element process ended without recording its own result, for the backend that
    watched it (local supervisor, Slurm node): ``code`` as :func:`os.waitstatus_to_exitcode`
    gives it (negative: the signal), ``oom_killed`` when the kernel's memory cgroup says it
    killed the element (where the backend can tell)."""
    memory = job_definition.get("memory_mb")
    if code == NO_SPACE_EXIT:  # the element ran out of disk space and could not record even that
        return no_space_reason(where="the element's result (its status)")
    if code >= 0:
        return f"the element process exited with code {code} before recording a result"
    sig = -code
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = str(sig)
    if sig == signal.SIGKILL:
        if oom_killed:
            return (
                f"out of memory: the element needed more than memory_mb={memory} (the kernel killed it in the "
                "job's memory cgroup); raise JobDefinition(memory_mb=...)"
            )
        return f"killed by {name} (out of memory above memory_mb={memory}, or killed from outside)"
    if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
        return f"crashed with {name} (often out of memory: memory_mb={memory})"
    return f"killed by {name}"


def describe_failure(exc: BaseException, job_definition: JobDefinition) -> str:
    """A one-line reason for a failed element."""
    if is_no_space(exc):
        return no_space_reason(exc)[:500]  # type: ignore[arg-type]
    if isinstance(exc, MemoryError):
        return (
            f"out of memory: the element needed more than memory_mb={job_definition.memory_mb} "
            "(MemoryError); raise JobDefinition(memory_mb=...)"
        )
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def _call(function: Any, ac: AnalysisContext) -> Any:
    """Call the work function with the context (or with nothing, if it takes no argument)."""
    code = getattr(function, "__code__", None)
    if code is not None and not isinstance(function, type):
        takes_args = code.co_argcount + code.co_kwonlyargcount > 0 or code.co_flags & 0x04  # *args
        if inspect.ismethod(function):
            takes_args = code.co_argcount > 1 or code.co_flags & 0x04
        return function(ac) if takes_args else function()
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return function(ac)
    return function(ac) if params else function()


def _commit_outputs(storage: Storage, layout: Layout, index: int, output: OutputCollector) -> dict[str, list[str]]:
    """Upload outputs and return their keys. Everything is checked before the first byte
    moves, and the element's SUCCEEDED status (written after, with the keys) is what makes
    them visible."""
    files = output.files
    records.check_output_keys(list(files))
    for key, path in files.items():
        if not path.is_file():
            raise ExplorerError(
                f"Output file {key!r} was registered but {path} was never written; write to the path "
                "that ac.output.file(key).as_local() returns, or drop the key."
            )
    values_blob = None
    if output.values:
        try:
            values_blob = dumps(output.values)
        except Exception as exc:  # noqa: BLE001
            raise ExplorerError(
                f"An output value cannot be pickled ({type(exc).__name__}: {exc}); store plain data."
            ) from exc
    for key, path in files.items():
        storage.upload_file(path, layout.file(index, key))
    if values_blob is not None:
        storage.put_bytes(layout.values(index), values_blob)
    return {"files": sorted(files), "values": sorted(output.values)}


def execute(
    storage: Storage,
    manifest: Manifest,
    index: int,
    function: Any,
    input_value: Any,
    input_shared: InputShared | None,
    global_config: GlobalConfig | None,
    workdir: str | Path,
    *,
    shell_names: dict[str, Any] | None = None,
    reraise: bool = False,
    record_running: bool = True,
    label: str | None = None,
    session: Session | None = None,
) -> ElementStatus:
    """Run the work function for element ``index`` and record its outcome in storage.

    ``record_running=False`` skips writing the RUNNING status, for supervisors that report
    running elements themselves (the local cluster's summary). ``label`` is the element's
    ``input_label`` (default: the label rules applied to ``input_value``). ``session`` is where
    ``ac.dependency(name)`` finds the dependencies (default: the process's, which is the element's
    own where the runner runs it).
    """
    layout = manifest.layout
    job_definition = JobDefinition.from_dict(manifest.job_definition)
    # -- observe (issue 14): label and measurements of this run --------------------------------
    label = default_label(input_value) if label is None else label
    meter = Meter()
    started = meter.started

    def measured() -> dict[str, Any]:
        return {"input_label": label, **meter.read()}

    # ------------------------------------------------------------------------------------------
    if record_running:
        records.write_element_status(
            storage, layout, ElementStatus(index, RUNNING, started=started, input_label=label, host=hostname())
        )
    output = OutputCollector(workdir)
    ac = AnalysisContext(
        input=input_value,
        input_shared=input_shared,
        global_context=global_config,
        job_definition=job_definition,
        job_index=index if manifest.size is not None else None,
        output=output,
        analysis_id=manifest.id,
        dependencies=manifest.depends_on,
        open_dependency=functools.partial(open_analysis, manifest.user, session=session),
    )
    try:
        if shell_names:
            from . import shell

            shell.prepare(shell_names)
        try:
            _call(function, ac)
        except SystemExit as exc:
            if exc.code not in (None, 0):
                raise
        keys = _commit_outputs(storage, layout, index, output)
    except BaseException as exc:  # noqa: BLE001 - every failure is recorded
        reason = describe_failure(exc, job_definition)
        try:
            # the user's frames only: the runner's own lines are noise in an element's log
            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
                tb = tb.tb_next
            traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
            sys.stdout.flush()
            sys.stderr.flush()
        except (MemoryError, OSError):  # out of memory, or the log's disk is full too
            pass
        if is_no_space(exc):
            _empty_folder(workdir)  # what the element wrote there holds the space its FAILED status needs
        status = ElementStatus(
            index, FAILED, reason=reason, started=started, stopped=time.time(), exit_code=1, **measured()
        )
        records.write_element_status(storage, layout, status)
        if reraise or isinstance(exc, KeyboardInterrupt):
            raise
        return status
    sys.stdout.flush()
    sys.stderr.flush()
    status = ElementStatus(
        index, SUCCEEDED, started=started, stopped=time.time(), exit_code=0, outputs=keys, **measured()
    )
    records.write_element_status(storage, layout, status)
    return status


def _empty_folder(folder: str | Path) -> None:
    """Remove what is inside ``folder`` (best effort)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def open_analysis(user: str, analysis_id: str, session: Session | None = None) -> Any:
    """``ac.dependency(name)``: the dependency as an Analysis (status, outputs)."""
    from .job_manager import JobManager

    return JobManager(user=user, session=session).get_analysis(job_id=analysis_id)


def load_failure_reason(exc: BaseException, what: str = "the work function or input") -> str:
    """The FAILED reason of an element whose work function or input cannot be unpickled."""
    return f"cannot load {what}: {type(exc).__name__}: {exc}"[:500]


def load_payload(storage: Storage, manifest: Manifest, index: int) -> tuple[Any, dict[str, Any], Any, Any, Any]:
    """(function, shell names, input, input_shared, global_config) of element ``index``,
    fetching only that element's slice of the inputs (two ranged reads)."""
    layout = manifest.layout
    function, names = loads(storage.get_bytes(layout.function))
    input_shared, global_config = loads(storage.get_bytes(layout.shared))
    start, end = records.input_range(storage.get_bytes(layout.inputs_index, 8 * index, 8 * index + 16), 0)
    value = loads(storage.get_bytes(layout.inputs_blob, start, end))
    return function, names, value, input_shared, global_config


# -- observe (issue 14): the element's label from the record ------------------------------------
def load_label(storage: Storage, manifest: Manifest, index: int) -> str | None:
    """Element ``index``'s ``input_label`` from ``labels.txt`` (None if the record has none)."""
    from .errors import NotFound

    try:
        labels = unpack_labels(storage.get_bytes(manifest.layout.labels))
    except NotFound:
        return None
    return labels[index] if 0 <= index < len(labels) else None


# ------------------------------------------------------------------------------------------------
def pip_env_dir(packages: list[str] | tuple[str, ...], home: Path) -> Path:
    """Where the packages of one package set are installed (shared by every element)."""
    digest = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:16]
    return home / "pip-envs" / digest


def pip_install_command(packages: list[str] | tuple[str, ...], target: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--target",
        str(target),
        *packages,
    ]


def activate_pip_env(target: Path) -> None:
    """Put an installed package set first on this process's path (and its children's)."""
    site = str(target)
    sys.path.insert(0, site)
    os.environ["PYTHONPATH"] = site + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    if (target / "bin").is_dir():
        os.environ["PATH"] = str(target / "bin") + os.pathsep + os.environ.get("PATH", "")


def pip_env_ready(target: Path) -> bool:
    """True once a package set has been installed completely into ``target``."""
    return (target / _PIP_COMPLETE).exists()


def publish_pip_env(staging: Path, target: Path, packages: list[str] | tuple[str, ...]) -> None:
    """Move a finished install from ``staging`` into place (unless another got there first)."""
    (staging / _PIP_COMPLETE).write_text("\n".join(packages))
    if pip_env_ready(target):
        shutil.rmtree(staging, ignore_errors=True)
        return
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)


_PIP_COMPLETE = ".explorer-complete"


def ensure_pip_env(packages: list[str] | tuple[str, ...], home: Path) -> Path:
    """Install ``packages`` once per package set (file-locked), return the directory."""
    import fcntl

    target = pip_env_dir(packages, home)
    if pip_env_ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(str(target) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if pip_env_ready(target):
            return target
        staging = Path(str(target) + f".tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        proc = subprocess.run(pip_install_command(packages, staging), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise ExplorerError(f"pip could not install {', '.join(packages)}:\n{tail}")
        publish_pip_env(staging, target, packages)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explorer_magics.runner", description="Run one element of an analysis."
    )
    parser.add_argument("--analysis", required=True, help="analysis id")
    parser.add_argument(
        "--index", type=int, default=None, help="element index (default: AWS_BATCH_JOB_ARRAY_INDEX or 0)"
    )
    parser.add_argument("--user", default=None, help="owner of the analysis (default: the configured user)")
    args = parser.parse_args(argv)
    # the element's own session, from its environment; a File(...) made in the work function means it
    ctx = Session()
    use_session(ctx)
    settings, storage = ctx.settings, ctx.storage
    user = args.user or settings.user
    manifest = records.read_manifest(storage, user, args.analysis)
    index = args.index
    if index is None:
        index = int(os.environ.get("AWS_BATCH_JOB_ARRAY_INDEX", "0") or 0)
        if os.environ.get("EXPLORER_INDICES"):  # a job of only some elements: child k runs the k-th
            (index,) = struct.unpack("<I", storage.get_bytes(os.environ["EXPLORER_INDICES"], 4 * index, 4 * index + 4))
    if not 0 <= index < manifest.count:
        print(f"explorer runner: no element {index} in {manifest.id} ({manifest.count} elements)", file=sys.stderr)
        return 2
    if manifest.pip_packages:
        try:
            activate_pip_env(ensure_pip_env(manifest.pip_packages, settings.home))
        except ExplorerError as exc:
            status = ElementStatus(
                index,
                FAILED,
                reason=str(exc).splitlines()[0],
                stopped=time.time(),
                exit_code=1,
                input_label=load_label(storage, manifest, index),
                host=hostname(),
            )
            records.write_element_status(storage, manifest.layout, status)
            print(str(exc), file=sys.stderr)
            return 1
    try:
        function, names, value, input_shared, global_config = load_payload(storage, manifest, index)
    except Exception as exc:  # noqa: BLE001 - recorded like any failure, and shown in the log
        traceback.print_exc()
        reason = load_failure_reason(exc)
        status = ElementStatus(
            index,
            FAILED,
            reason=reason,
            stopped=time.time(),
            exit_code=1,
            input_label=load_label(storage, manifest, index),
            host=hostname(),
        )
        records.write_element_status(storage, manifest.layout, status)
        return 1
    workdir = tempfile.mkdtemp(prefix="explorer-element-")
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        status = execute(
            storage,
            manifest,
            index,
            function,
            value,
            input_shared,
            global_config,
            workdir,
            shell_names=names,
            label=load_label(storage, manifest, index),
            session=ctx,
        )
    finally:
        os.chdir(cwd)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if status.status == SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
