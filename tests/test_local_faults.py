"""The local cluster under faults: a full disk, processes that try to outlive their element, a
failed dependency, malformed control messages, a launcher that keeps dying. Real supervisors,
real processes, a real (small) tmpfs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis, AnalysisContext
from explorer_magics.compute.local.client import socket_path, state_dir, supervisor_alive
from explorer_magics.errors import ExplorerError
from explorer_magics.job_manager import JobManager

from .conftest import _gone, stop_supervisor
from .helpers import wait_for


def _supervisor_pid() -> int:
    return int((state_dir(session.settings()) / "supervisor.lock").read_text())


def _supervisor_log() -> str:
    return (state_dir(session.settings()) / "supervisor.log").read_text()


# -- orphans: every process an element started ends with it ------------------------------------
ESCAPES = {
    # `setsid -f`: a daemon in a session of its own, its parent gone at once
    "setsid": """
        import subprocess
        subprocess.run(["setsid", "-f", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 300"], check=True)
    """,
    # the classic daemon: fork, setsid, fork again, the middle process exits
    "double fork": """
        import os
        first = os.fork()
        if first == 0:
            os.setsid()
            if os.fork() == 0:
                with open(pidfile, "w") as fh:
                    fh.write(str(os.getpid()))
                os.execvp("sleep", ["sleep", "300"])
            os._exit(0)
        os.waitpid(first, 0)
    """,
    # subprocess's own way out of the process group
    "start_new_session": """
        import subprocess
        child = subprocess.Popen(["sleep", "300"], start_new_session=True)
        with open(pidfile, "w") as fh:
            fh.write(str(child.pid))
    """,
}


def _escaping_work(how: str, pidfile: str, then_sleep: float):
    import textwrap

    code = textwrap.dedent(ESCAPES[how])

    def work(ac: AnalysisContext):
        import time

        exec(code, {"pidfile": pidfile})  # noqa: S102 - the test's own code
        while not os.path.exists(pidfile) or not open(pidfile).read().strip():
            time.sleep(0.01)
        print("daemon started", flush=True)
        time.sleep(then_sleep)

    return work


@pytest.fixture
def daemons():
    """Pid files the escaping processes write; whatever is still alive at the end is killed."""
    made = []

    def pidfile(name: str) -> str:
        path = session.settings().home / f"{name.replace(' ', '-')}.pid"
        made.append(path)
        return str(path)

    yield pidfile
    for path in made:
        try:
            os.kill(int(path.read_text().strip()), signal.SIGKILL)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass


def _daemon_pid(pidfile: str) -> int:
    return int(
        wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), timeout=90, what="the daemon's pid")
    )


def _daemonizer(how: str, daemons, then_sleep: float = 300) -> tuple[Analysis, int]:
    """An element that leaves a daemon started the ``how`` way, then runs ``then_sleep`` seconds:
    the analysis and the daemon's pid."""
    pidfile = daemons(how)
    an = Analysis(function=_escaping_work(how, pidfile, then_sleep=then_sleep), input=None, name="daemonizer").run()
    return an, _daemon_pid(pidfile)


@pytest.mark.parametrize("how", list(ESCAPES))
def test_a_daemon_an_element_started_ends_when_the_element_ends(how, daemons):
    an, pid = _daemonizer(how, daemons, then_sleep=0)
    assert an.wait_done(timeout=60)["status"] == "SUCCEEDED", an.status(0)
    wait_for(lambda: _gone(pid), timeout=30, what=f"the {how} daemon to be killed after its element ended")


@pytest.mark.parametrize("how", list(ESCAPES))
def test_a_daemon_an_element_started_ends_when_the_element_is_terminated(how, daemons):
    an, pid = _daemonizer(how, daemons)
    an.terminate()
    assert an.wait_done(timeout=60)["status"] == "FAILED"
    assert an.status(0)["reason"] == "terminated by user"
    wait_for(lambda: _gone(pid), timeout=30, what=f"the {how} daemon to be killed with its terminated element")


@pytest.mark.parametrize("how", list(ESCAPES))
def test_a_daemon_an_element_started_ends_when_the_supervisor_is_killed(how, daemons):
    an, pid = _daemonizer(how, daemons)
    an.wait_running_or_done(timeout=60)  # the supervisor has noted it as started (else it would run again)
    os.kill(_supervisor_pid(), signal.SIGKILL)
    # nobody looks at the analysis (no new supervisor starts): the daemon must still go
    wait_for(lambda: _gone(pid), timeout=30, what=f"the {how} daemon to be killed with the supervisor")
    assert an.wait_done(timeout=60)["status"] == "FAILED"


@pytest.mark.parametrize("how", list(ESCAPES))
def test_a_daemon_an_element_started_ends_when_its_launcher_is_killed(how, daemons):
    pidfile = daemons(how)
    launcher_file = session.settings().home / "launcher.pid"

    def work(ac: AnalysisContext):
        launcher_file.write_text(str(os.getppid()))
        _escaping_work(how, pidfile, then_sleep=300)(ac)

    an = Analysis(function=work, input=None, name="daemonizer").run()
    pid = _daemon_pid(pidfile)
    os.kill(int(launcher_file.read_text()), signal.SIGKILL)
    wait_for(lambda: _gone(pid), timeout=30, what=f"the {how} daemon to be killed with the launcher")
    assert an.wait_done(timeout=60)["status"] == "FAILED"


@pytest.mark.parametrize("how", list(ESCAPES))
def test_a_daemon_left_when_supervisor_and_launcher_die_at_once_ends_when_the_next_supervisor_starts(how, daemons):
    """``kill -9`` of the supervisor's process group takes its launchers in the same instant:
    no subreaper is left to take the daemon, so it goes to init. The next supervisor (started
    by the next status read) finds it by the mark in its environment and ends it."""
    an, pid = _daemonizer(how, daemons)
    an.wait_running_or_done(timeout=60)  # the supervisor has noted it as started (else it would run again)
    old = _supervisor_pid()
    os.killpg(os.getpgid(old), signal.SIGKILL)  # the supervisor and its launchers, at once
    wait_for(lambda: _gone(old), what="the supervisor to die")
    assert an.wait_done(timeout=60)["status"] == "FAILED"  # a new supervisor took over
    wait_for(lambda: _gone(pid), timeout=30, what=f"the {how} daemon to be ended by the next supervisor")
    assert "process(es) that elements of a stopped supervisor had left running" in _supervisor_log()


# -- a failed dependency -------------------------------------------------------------------------
def test_a_failed_dependency_does_not_keep_the_supervisor_alive(monkeypatch):
    monkeypatch.setenv("EXPLORER_LOCAL_IDLE_SECONDS", "1")
    session.reset()

    def boom(ac: AnalysisContext):
        import time

        time.sleep(1)  # still running when the dependent is submitted: the supervisor sees it fail
        raise RuntimeError("upstream broke")

    up = Analysis(function=boom, input=None, name="up")
    down = Analysis(function=lambda ac: None, input=[1, 2], depends_on=[up], name="down").run()
    status = down.wait_done(timeout=60)
    assert status["summary"] == {"FAILED": 2}
    assert status["reason"] == f"dependency up ({up.id}) FAILED"
    pid = _supervisor_pid()
    assert f"finished {down.id}" in wait_for(
        lambda: f"finished {down.id}" in _supervisor_log() and _supervisor_log(), what="the dependent to finish"
    )
    wait_for(lambda: _gone(pid), timeout=30, what="the idle supervisor to exit")
    assert not supervisor_alive(state_dir(session.settings()))
    assert not list((state_dir(session.settings()) / "queue").glob("*.json"))


# -- the control socket --------------------------------------------------------------------------
def _send_raw(data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(socket_path(state_dir(session.settings())))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


MALFORMED = [
    b"[1, 2]\n",
    b'"hello"\n',
    b"null\n",
    b"42\n",
    b"{not json\n",
    b"\xff\xfe\xfd\n",
    b'{"op": 7}\n',
    b'{"op": ["ping"]}\n',
    b'{"op": "submit"}\n',
    b'{"op": "submit", "analysis": 5, "user": "alice", "env": {}}\n',
    b'{"op": "submit", "analysis": "x", "user": ["alice"], "env": {}}\n',
    b'{"op": "submit", "analysis": "x", "user": "alice", "env": "EXPLORER_STORAGE=/"}\n',
    b'{"op": "submit", "analysis": "x", "user": "alice", "env": {"EXPLORER_STORAGE": 1}}\n',
    b'{"op": "terminate", "analysis": [1], "user": "alice"}\n',
    b'{"op": "terminate", "analysis": {"a": 1}, "user": "alice", "index": 0}\n',
    b'{"op": "terminate", "analysis": "x", "user": "alice", "index": "zero"}\n',
    b'{"op": "terminate", "analysis": "x", "user": "alice", "index": [0]}\n',
    b'{"op": "terminate", "analysis": "x", "user": "alice", "index": true}\n',
    b'{"op": "terminate", "analysis": "x", "user": "alice", "index": 1e999}\n',
]


def test_malformed_control_messages_are_refused_and_logged_and_the_supervisor_carries_on():
    first = Analysis(function=lambda ac: None, input=None, name="first").run()
    first.wait_done(timeout=60)
    pid = _supervisor_pid()
    for message in MALFORMED:
        answer = json.loads(_send_raw(message))
        assert answer["ok"] is False and answer["error"], (message, answer)
        assert supervisor_alive(state_dir(session.settings())), message
    assert _supervisor_pid() == pid
    try:  # a request without end: refused at 1 MiB (the supervisor may close while it is still sent)
        answer = _send_raw(b"x" * (2 * 1024 * 1024))
    except (BrokenPipeError, ConnectionResetError):
        answer = b""
    assert answer in (b"", b'{"ok": false, "error": "the request is too large"}')
    assert json.loads(_send_raw(b'{"op": "ping"}\n'))["ok"] is True
    log = _supervisor_log()
    assert log.count("refused a control message") >= len(MALFORMED) + 1, log
    second = Analysis(function=lambda ac: ac.output.value(key="v", value=2), input=[1]).run()
    assert second.wait_done(timeout=60)["status"] == "SUCCEEDED"
    assert _supervisor_pid() == pid


# -- a launcher that keeps dying --------------------------------------------------------------------
@pytest.fixture
def launchers(monkeypatch) -> Path:
    """One element at a time, and a folder where :func:`_noting_launcher` elements note theirs."""
    monkeypatch.setenv("EXPLORER_MAX_PARALLEL", "1")
    session.reset()
    folder = session.settings().home / "launchers"
    folder.mkdir()
    return folder


def _noting_launcher(folder: Path, hold: Callable[[int], bool]) -> Callable[[AnalysisContext], None]:
    """A work function that writes its launcher's pid to ``folder/<index>``, then runs for
    minutes when ``hold(index)`` (until its launcher is killed)."""

    def work(ac: AnalysisContext):
        import time

        (folder / str(ac.job_index)).write_text(str(os.getppid()))
        if hold(ac.job_index):
            time.sleep(300)

    return work


def _launcher_of(folder: Path, index: int) -> int:
    """The pid of the launcher that started element ``index`` (once it has started)."""
    marker = folder / str(index)
    return int(wait_for(lambda: marker.exists() and marker.read_text(), timeout=90, what=f"element {index} to start"))


def test_after_three_launcher_deaths_in_a_row_the_remaining_elements_fail_and_say_why(launchers):
    folder = launchers
    an = Analysis(function=_noting_launcher(folder, lambda i: True), input=list(range(5)), name="doomed").run()
    killed = []
    for index in range(3):
        launcher = _launcher_of(folder, index)
        assert launcher not in killed
        os.kill(launcher, signal.SIGKILL)
        killed.append(launcher)
    status = an.wait_done(timeout=60)
    assert status["summary"] == {"FAILED": 5}
    assert an.status(0)["reason"] == "the process that starts this analysis's elements stopped unexpectedly"
    gave_up = an.status(4)["reason"]
    assert gave_up.startswith("not started: the process that starts this analysis's elements stopped unexpectedly 3")
    assert "in a row" in gave_up
    assert sorted(p.name for p in folder.iterdir()) == ["0", "1", "2"]  # 3 and 4 never ran


def test_a_launcher_that_dies_now_and_then_does_not_stop_a_long_analysis(launchers):
    """Deaths are counted in a row: a launcher that dies after elements finished starts a new
    count, so an analysis that loses three launchers over its run still runs every element."""
    folder = launchers
    # 0, 2, 4: the launcher is killed while these run
    an = Analysis(function=_noting_launcher(folder, lambda i: i % 2 == 0), input=list(range(7)), name="bumpy").run()
    for index in (0, 2, 4, 6):
        os.kill(_launcher_of(folder, index), signal.SIGKILL)
    status = an.wait_done(timeout=60)
    assert status["summary"] == {"FAILED": 4, "SUCCEEDED": 3}
    assert [an.status(i)["status"] for i in (1, 3, 5)] == ["SUCCEEDED"] * 3


# -- a full disk -----------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """$EXPLORER_HOME (storage, the cluster's state and journal, element work folders) on a
    20 MiB tmpfs of this test's own."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount_point)], check=True)
    home = mount_point / "home"
    monkeypatch.setenv("EXPLORER_HOME", str(home))
    session.reset()
    try:
        yield home
    finally:
        stop_supervisor(home)
        session.reset()
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(home, leave: int = 0) -> None:
    """Fill the disk, then free ``leave`` bytes."""
    filler = home.parent / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))


def write_a_megabyte(ac: AnalysisContext):
    path = ac.output.file("blob").as_local()
    with open(path, "wb") as fh:
        fh.write(os.urandom(1024 * 1024))


def test_a_full_disk_fails_the_elements_it_hits_and_the_supervisor_carries_on(small_disk):
    an = Analysis(function=write_a_megabyte, input=list(range(24)), name="big").run()
    pid = _supervisor_pid()
    status = an.wait_done(timeout=120)
    assert status["status"] == "FAILED"
    counts = status["summary"]
    assert counts.get("SUCCEEDED", 0) > 0 and counts.get("FAILED", 0) > 0, counts
    assert set(counts) == {"SUCCEEDED", "FAILED"}
    reasons = {an.status(e.index).get("reason") for e in an.elements(status="FAILED", limit=100)}
    assert all(r and r.startswith("no space left on device: ") for r in reasons), reasons
    assert supervisor_alive(state_dir(session.settings())) and _supervisor_pid() == pid
    for e in an.elements(status="SUCCEEDED", limit=100):  # what succeeded is whole
        assert len(open(an.get_output(e.index).file("blob").as_local(), "rb").read()) == 1024 * 1024
    # space freed: the same supervisor runs the next analysis
    JobManager()  # (still usable)
    shutil.rmtree(session.settings().home / "eos" / "users" / "alice" / "analyses" / an.id / "tasks")
    again = Analysis(function=lambda ac: ac.output.value(key="v", value=1), input=[1, 2]).run()
    assert again.wait_done(timeout=60)["status"] == "SUCCEEDED"
    assert _supervisor_pid() == pid


def test_a_submit_on_a_full_disk_raises_a_clear_error_and_leaves_no_phantom_analysis(small_disk):
    Analysis(function=lambda ac: None, input=None, name="warm").run().wait_done(timeout=60)  # supervisor up
    before = [j.id for j in JobManager().list_jobs()]
    _fill(small_disk)
    with pytest.raises(ExplorerError, match="no space left on device") as refused:
        Analysis(function=lambda ac: None, input=list(range(100)), name="phantom").run()
    assert "Nothing was submitted" in str(refused.value)
    assert [j.id for j in JobManager().list_jobs()] == before
    for job in JobManager().list_jobs():
        JobManager().get_analysis(job.id)  # every listed analysis opens


def test_terminate_ends_an_analysis_whose_journal_was_lost():
    def slow(ac: AnalysisContext):
        import time

        time.sleep(300)

    an = Analysis(function=slow, input=list(range(3)), name="lost").run()
    an.wait_running_or_done(timeout=60)
    os.kill(_supervisor_pid(), signal.SIGKILL)
    wait_for(lambda: not supervisor_alive(state_dir(session.settings())), what="the supervisor to die")
    (state_dir(session.settings()) / "queue" / f"{an.id}.json").unlink()  # the journal is gone
    an.terminate_all()
    status = an.wait_done(timeout=60)
    assert status["status"] == "FAILED" and status["summary"] == {"FAILED": 3}


def test_a_journal_cut_short_is_rebuilt_from_storage_and_the_analysis_finishes(monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_PARALLEL", "1")
    session.reset()
    home = session.settings().home
    gate = home / "go"

    def gated(ac: AnalysisContext):
        import time

        while not gate.exists():
            time.sleep(0.02)
        ac.output.value(key="v", value=ac.input)

    an = Analysis(function=gated, input=list(range(3)), name="rebuilt").run()
    state = state_dir(session.settings())
    pid = _supervisor_pid()
    an.wait_running_or_done(timeout=60)
    stop_supervisor(home)  # a clean stop: the running element fails, the waiting ones stay queued
    wait_for(lambda: _gone(pid), what="the supervisor to stop")
    (state / "queue" / f"{an.id}.json").write_bytes(b'{"analysis": "')  # cut short, as a full disk leaves it
    gate.write_text("go")
    status = an.wait_done(timeout=60)  # the next status read starts a supervisor that recovers it
    assert status["summary"] == {"FAILED": 1, "SUCCEEDED": 2}
    assert "supervisor was stopped" in an.status(0)["reason"]
    assert "cannot recover" not in _supervisor_log().split(f"supervisor {_supervisor_pid()} starting")[-1]
    assert f"recovered {an.id}" in _supervisor_log()


def test_a_submission_the_cluster_cannot_journal_leaves_no_phantom(monkeypatch):
    """The record is written, then the local cluster cannot journal it (its disk is full): the
    record goes again and the error says what happened."""
    import errno

    from explorer_magics.compute.local.client import LocalCompute

    def full(self, manifest, dependencies=(), indices=None):
        raise OSError(errno.ENOSPC, "No space left on device", "/x/cluster/queue/a.json")

    monkeypatch.setattr(LocalCompute, "submit", full)
    with pytest.raises(ExplorerError, match=r"no space left on device \(/x/cluster/queue/a.json\)"):
        Analysis(function=lambda ac: None, input=[1, 2], name="unjournaled").run()
    assert JobManager().list_jobs() == []
    analyses = session.settings().home / "eos" / "users" / "alice" / "analyses"
    assert not analyses.exists() or list(analyses.iterdir()) == []


def test_terminate_does_not_take_up_an_analysis_of_another_local_cluster(monkeypatch, tmp_path):
    """Two EXPLORER_HOMEs sharing one storage are two clusters: one does not take up (and
    terminate) what the other runs, it says where to do it."""

    def slow(ac: AnalysisContext):
        import time

        time.sleep(300)

    an = Analysis(function=slow, input=None, name="elsewhere").run()
    an.wait_running_or_done(timeout=60)
    storage = session.settings().storage_url
    with monkeypatch.context() as elsewhere:
        elsewhere.setenv("EXPLORER_HOME", str(tmp_path / "other-home"))
        elsewhere.setenv("EXPLORER_STORAGE", storage)
        session.reset()
        try:
            other = JobManager().get_analysis(an.id)
            with pytest.raises(ExplorerError, match="was not submitted to this local cluster"):
                other.terminate_all()
        finally:
            stop_supervisor(tmp_path / "other-home")
    session.reset()
    assert an.status()["status"] == "RUNNING"
    an.terminate_all()
    assert an.wait_done(timeout=60)["status"] == "FAILED"


def test_terminating_an_element_the_supervisor_saw_finish_says_so():
    """The local cluster answers from what it knows (no race with a status file): an element
    that has ended while its analysis still runs is not terminated, and the caller is told."""
    from explorer_magics.errors import AlreadyFinished

    def work(ac: AnalysisContext):
        import time

        time.sleep(0 if ac.input == "fast" else 300)

    an = Analysis(function=work, input=["fast", "slow"], name="half").run()
    wait_for(lambda: an.status(0)["status"] == "SUCCEEDED", timeout=60, what="element 0 to succeed")
    with pytest.raises(AlreadyFinished, match="element 0 had already SUCCEEDED"):
        an._compute().terminate(an.manifest, 0)  # straight to the backend, past the SDK's own check
    assert {k: v for k, v in an.status(0).items() if k in ("status", "reason")} == {"status": "SUCCEEDED"}
    an.terminate(1)
    assert an.wait_done(timeout=60)["summary"] == {"SUCCEEDED": 1, "FAILED": 1}
