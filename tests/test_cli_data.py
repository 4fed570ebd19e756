"""The ``d`` command (``explorer data``), run as a real console script in a child process, the
way a person runs it in a terminal: output, exit codes and what ends up in storage.

The CLI examples of reference/storage-and-files.txt run as written (with ``gencove explorer``
spelled ``explorer`` and ``/home/explorer`` a temporary folder), against both backends.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from explorer_magics import session
from tests.s3_servers import STORAGE_PARAMS, use_storage

BIN = Path(sys.executable).parent


@pytest.fixture(params=STORAGE_PARAMS)
def backend(request: pytest.FixtureRequest) -> str:
    """The local directory storage, S3 on SeaweedFS, S3 on moto."""
    return use_storage(request, request.param)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The folder the commands run in."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def run(*argv: str, cwd: Path, stdin: str | None = None, program: str = "d") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / program), *argv],
        cwd=cwd,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def d(*argv: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``d ARGV`` that must succeed."""
    done = run(*argv, cwd=cwd, stdin=stdin)
    assert done.returncode == 0, f"d {' '.join(argv)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def keys(prefix: str = "") -> list[str]:
    return [o.key for o in session.storage().iter_objects(prefix)]


def mine(prefix: str = "") -> list[str]:
    """Paths below e://users/me/ (alice's files)."""
    base = "users/alice/files/"
    return [k[len(base) :] for k in keys(base + prefix)]


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# -- the reference's examples -------------------------------------------------------------------
def test_the_reference_examples_run_as_written(backend: str, work: Path, tmp_path: Path) -> None:
    explorer_home = tmp_path / "home-explorer"  # stands in for /home/explorer
    (work / "local_file.txt").write_text("hello EOS\n")

    out = d("cp", "local_file.txt", "e://users/me/project-1/file.txt", cwd=work).stdout
    assert out == "upload: local_file.txt to e://users/me/project-1/file.txt\n"
    done = run("data", "cp", "local_file.txt", "e://users/me/project-1/file.txt", cwd=work, program="explorer")
    assert done.returncode == 0 and done.stdout == out, done.stderr

    listing = d("ls", cwd=work).stdout
    assert listing.split() == ["PRE", "project-1/"]
    line = d("ls", "e://users/me/project-1/", cwd=work).stdout
    assert line.endswith(" 10 file.txt\n") and len(line.split()) == 4

    (work / "local_file.txt").unlink()
    out = d("cp", "e://users/me/project-1/file.txt", "local_file.txt", cwd=work).stdout
    assert out == "download: e://users/me/project-1/file.txt to local_file.txt\n"
    assert (work / "local_file.txt").read_text() == "hello EOS\n"

    out = d("cp", "e://users/me/project-1/file.txt", "e://users/me/project-2/file.txt", cwd=work).stdout
    assert out == "copy: e://users/me/project-1/file.txt to e://users/me/project-2/file.txt\n"

    make_tree(explorer_home / "project-1", {"a.txt": "a", "sub/b.txt": "bb"})
    out = d("sync", f"{explorer_home}/project-1/", "e://users/me/project-1/", cwd=work).stdout
    assert sorted(out.splitlines()) == [
        f"upload: {explorer_home}/project-1/a.txt to e://users/me/project-1/a.txt",
        f"upload: {explorer_home}/project-1/sub/b.txt to e://users/me/project-1/sub/b.txt",
    ]
    (explorer_home / "project-1" / "a.txt").unlink()
    out = d("sync", "e://users/me/project-1/", f"{explorer_home}/project-1/", cwd=work).stdout
    assert sorted(out.splitlines()) == [  # what is missing here; sub/b.txt is the same
        f"download: e://users/me/project-1/a.txt to {explorer_home}/project-1/a.txt",
        f"download: e://users/me/project-1/file.txt to {explorer_home}/project-1/file.txt",
    ]
    assert (explorer_home / "project-1" / "file.txt").read_text() == "hello EOS\n"
    out = d("sync", "e://users/me/project-1/", "e://users/me/project-2/", cwd=work).stdout
    assert sorted(out.splitlines()) == [  # project-2/file.txt is the same already
        "copy: e://users/me/project-1/a.txt to e://users/me/project-2/a.txt",
        "copy: e://users/me/project-1/sub/b.txt to e://users/me/project-2/sub/b.txt",
    ]

    out = d("rm", "e://users/me/project-1/file.txt", cwd=work).stdout
    assert out == "delete: e://users/me/project-1/file.txt\n"
    assert mine() == [
        "project-1/a.txt", "project-1/sub/b.txt",
        "project-2/a.txt", "project-2/file.txt", "project-2/sub/b.txt",
    ]  # fmt: skip


# -- cp -------------------------------------------------------------------------------------------
def test_cp_into_a_folder_keeps_the_name_and_cp_r_copies_trees(backend: str, work: Path) -> None:
    (work / "one.txt").write_text("1")
    d("cp", "one.txt", "e://users/me/in/", cwd=work)
    make_tree(work / "tree", {f"d{i % 3}/f{i}.txt": str(i) for i in range(12)})
    out = d("cp", "-r", "tree", "e://org/tree/", cwd=work).stdout
    assert len(out.splitlines()) == 12 and all(line.startswith("upload: tree/") for line in out.splitlines())
    assert mine() == ["in/one.txt"]
    assert len(keys("org/files/tree/")) == 12
    back = d("cp", "-r", "--quiet", "e://org/tree", str(work / "back"), cwd=work)
    assert back.stdout == "" and back.stderr == ""
    assert sorted(str(p.relative_to(work / "back")) for p in (work / "back").rglob("*.txt")) == sorted(
        f"d{i % 3}/f{i}.txt" for i in range(12)
    )
    d("cp", "-r", "--exclude", "*", "--include", "d1/*", "e://org/tree/", "e://users/me/only-d1/", cwd=work)
    assert mine("only-d1/") == [f"only-d1/d1/f{i}.txt" for i in (1, 10, 4, 7)]


def test_a_download_keeps_the_objects_time(backend: str, work: Path) -> None:
    (work / "x.txt").write_text("x")
    os.utime(work / "x.txt", (1_000_000_000, 1_000_000_000))
    d("cp", "x.txt", "e://users/me/x.txt", cwd=work)
    d("cp", "e://users/me/x.txt", "y.txt", cwd=work)
    remote = session.storage().stat("users/alice/files/x.txt").mtime
    assert abs((work / "y.txt").stat().st_mtime - remote) < 1


# -- sync -------------------------------------------------------------------------------------------
def test_sync_copies_only_what_changed(backend: str, work: Path) -> None:
    make_tree(work / "p", {"a.txt": "a", "b.txt": "b", "c/d.txt": "d"})
    assert len(d("sync", "p", "e://users/me/p", cwd=work).stdout.splitlines()) == 3
    again = d("sync", "p", "e://users/me/p", cwd=work)
    assert again.stdout == "" and again.stderr == ""
    (work / "p" / "b.txt").write_text("bigger now")
    assert d("sync", "p", "e://users/me/p", cwd=work).stdout == "upload: p/b.txt to e://users/me/p/b.txt\n"
    # the other way, and again: nothing to do (downloads keep the objects' times)
    assert len(d("sync", "e://users/me/p/", str(work / "q"), cwd=work).stdout.splitlines()) == 3
    assert d("sync", "e://users/me/p/", str(work / "q"), cwd=work).stdout == ""
    # EOS to EOS: equal objects are left alone
    assert len(d("sync", "e://users/me/p/", "e://org/p/", cwd=work).stdout.splitlines()) == 3
    assert d("sync", "e://users/me/p/", "e://org/p/", cwd=work).stdout == ""


def test_sync_delete_exclude_and_dryrun(backend: str, work: Path) -> None:
    make_tree(work / "p", {"keep.txt": "k", "run.log": "l"})
    d("sync", "--exclude", "*.log", "p", "e://users/me/p/", cwd=work)
    assert mine() == ["p/keep.txt"]
    session.storage().put_bytes("users/alice/files/p/old.txt", b"old")
    session.storage().put_bytes("users/alice/files/p/remote.log", b"excluded, so kept")
    dry = d("sync", "--delete", "--exclude", "*.log", "--dryrun", "p", "e://users/me/p/", cwd=work)
    assert dry.stdout == "(dryrun) delete: e://users/me/p/old.txt\n"
    assert mine() == ["p/keep.txt", "p/old.txt", "p/remote.log"]
    out = d("sync", "--delete", "--exclude", "*.log", "p", "e://users/me/p/", cwd=work).stdout
    assert out == "delete: e://users/me/p/old.txt\n"
    assert mine() == ["p/keep.txt", "p/remote.log"]


# -- rm -------------------------------------------------------------------------------------------
def test_rm_r_asks_first_unless_told_yes(backend: str, work: Path) -> None:
    for i in range(5):
        session.storage().put_bytes(f"users/alice/files/old/{i}.txt", b"x")
    no = run("rm", "-r", "e://users/me/old/", cwd=work, stdin="n\n")
    assert no.returncode == 1
    assert "Delete 5 object(s)" in no.stderr and "Nothing was deleted" in no.stderr
    assert len(mine("old/")) == 5
    yes = run("rm", "-r", "e://users/me/old/", cwd=work, stdin="y\n")
    assert yes.returncode == 0, yes.stderr
    assert len(yes.stdout.splitlines()) == 5 and mine() == []
    session.storage().put_bytes("users/alice/files/old2/x", b"x")
    assert d("rm", "-r", "--yes", "--quiet", "e://users/me/old2", cwd=work).stdout == ""
    assert mine() == []


# -- refusals and errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("cp", "f.txt", "e://public/f.txt"), "e://public/ is read-only"),
        (("cp", "f.txt", "e://users/bob/f.txt"), "belongs to bob"),
        (("cp", "f.txt", "e://users/me/../bob/f.txt"), "cannot leave"),
        (("cp", "f.txt", "e://users/me/a/../../bob/f.txt"), "cannot leave"),
        (("cp", "f.txt", "e://nowhere/f.txt"), "Unknown EOS namespace 'nowhere'"),
        (("cp", "-r", ".", "e://users/bob/"), "belongs to bob"),
        (("sync", ".", "e://public/mirror/"), "read-only"),
        (("rm", "e://public/ref.txt"), "read-only"),
        (("rm", "-r", "--yes", "e://users/bob/"), "belongs to bob"),
        (("cp", "missing.txt", "e://users/me/x.txt"), "local file missing.txt does not exist"),
        (("cp", "e://users/me/missing.txt", "."), "No object at e://users/me/missing.txt"),
        (("cp", ".", "e://users/me/"), "is a folder; add -r"),
        (("cp", "f.txt", "s3://bucket/f.txt"), "s3:// locations are not supported"),
        (("cp", "f.txt", "g.txt"), "one side must be an e:// URI"),
    ],
)
def test_refused_commands_exit_1_naming_the_uri_and_the_reason_and_change_nothing(
    work: Path, argv: tuple[str, ...], message: str
) -> None:
    (work / "f.txt").write_text("f")
    session.storage().put_bytes("public/files/ref.txt", b"ref")
    session.storage().put_bytes("users/bob/files/keep.txt", b"bob")
    before = keys()
    done = run(*argv, cwd=work)
    assert done.returncode == 1, done
    assert done.stderr.startswith("fatal error: ") and message in done.stderr, done.stderr
    assert done.stdout == ""
    assert keys() == before


def test_usage_errors_exit_2(work: Path) -> None:
    assert run("cp", "only-one-argument", cwd=work).returncode == 2
    assert run("frobnicate", cwd=work).returncode == 2
    assert run(cwd=work).returncode == 2
    assert run(cwd=work, program="explorer").returncode == 2
    helped = run("--help", cwd=work, program="explorer")
    assert helped.returncode == 0 and "data" in helped.stdout


def test_ls_of_nothing_exits_1(work: Path) -> None:
    done = run("ls", "e://users/me/empty/", cwd=work)
    assert done.returncode == 1 and done.stdout == ""


def test_ls_shows_namespaces_users_and_summaries(work: Path) -> None:
    session.storage().put_bytes("users/bob/files/x/y.txt", b"12345")
    session.storage().put_bytes("public/files/hg38/chr1.fa", b">chr1")
    assert d("ls", "e://", cwd=work).stdout.split() == ["PRE", "users/me/", "PRE", "org/", "PRE", "public/"]
    assert "bob/" in d("ls", "e://users/", cwd=work).stdout
    out = d("ls", "-r", "--summarize", "e://users/bob/", cwd=work).stdout
    assert " 5 x/y.txt\n" in out and "Total Objects: 1" in out and "Total Size: 5" in out
    assert d("ls", "e://public/hg", cwd=work).stdout.split() == ["PRE", "hg38/"]


def test_a_failed_transfer_is_reported_and_the_rest_go_through(work: Path) -> None:
    """On local storage a file cannot stand where a folder must go: that one upload fails."""
    make_tree(work / "p", {"a.txt": "a", "x/b.txt": "b"})
    session.storage().put_bytes("users/alice/files/p/x", b"a file named x")
    done = run("cp", "-r", "p", "e://users/me/p/", cwd=work)
    assert done.returncode == 1
    assert done.stdout == "upload: p/a.txt to e://users/me/p/a.txt\n"
    assert done.stderr.startswith("upload failed: p/x/b.txt to e://users/me/p/x/b.txt Cannot store")
    assert mine() == ["p/a.txt", "p/x"]


def test_skipped_files_are_warned_about_and_exit_2(work: Path) -> None:
    make_tree(work / "p", {"good.txt": "g", "bad\\name.txt": "b"})
    done = run("cp", "-r", "p", "e://users/me/p/", cwd=work)
    assert done.returncode == 2, done
    assert "warning: Skipping file" in done.stderr and "backslash" in done.stderr
    assert mine() == ["p/good.txt"]


# -- presign --------------------------------------------------------------------------------------------
def test_presign(backend: str, work: Path) -> None:
    session.storage().put_bytes("users/alice/files/share.txt", b"shared")
    done = run("presign", "e://users/me/share.txt", cwd=work)
    if backend == "local":
        assert done.returncode == 1 and "cannot make shareable URLs" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert "X-Amz-Expires=172800" in url
    with urllib.request.urlopen(url) as resp:  # noqa: S310 - a local moto URL
        assert resp.read() == b"shared"


# -- the terminal -----------------------------------------------------------------------------------------
def test_a_progress_line_shows_on_a_terminal_only(work: Path) -> None:
    make_tree(work / "p", {f"f{i}.txt": "x" * 1000 for i in range(20)})
    piped = run("cp", "-r", "p", "e://users/me/piped/", cwd=work)
    assert "Completed" not in piped.stderr and piped.stderr == ""
    main, child = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(BIN / "d"), "cp", "-r", "p", "e://users/me/tty/"],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=child,
        )
        os.close(child)
        seen = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(main)
    text = seen.decode(errors="replace")
    assert "Completed" in text and "file(s) remaining" in text
    assert text.endswith("\r\x1b[K")  # the line is cleared at the end
    assert len(mine("tty/")) == 20
