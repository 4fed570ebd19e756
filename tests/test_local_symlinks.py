"""Local storage never follows a symbolic link out of its folder (an element, or anyone with a
shell, can make one inside it): not through the server's EOS routes, not through ``d``, not
through the SDK. Links are skipped in listings with a warning; a link loop ends no listing in a
traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer_magics import session
from explorer_magics.eos import transfer
from explorer_magics.errors import AccessDenied

BIN = Path(sys.executable).parent


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """Local storage whose e://users/me/ holds a real file, a link to a folder outside the storage
    root, a link to a file outside it, and a link loop. Returns the outside folder."""
    storage = session.storage()
    assert storage.name == "local"
    storage.put_bytes("users/alice/files/real.txt", b"real")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (outside / "victim.txt").write_text("do not delete me")
    mine = Path(storage.url) / "users" / "alice" / "files"
    os.symlink(outside, mine / "out")
    os.symlink(outside / "secret.txt", mine / "secret-link.txt")
    os.symlink(mine, mine / "loop")
    return outside


def _outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt", "victim.txt"]
    assert (outside / "victim.txt").read_text() == "do not delete me"
    assert (outside / "secret.txt").read_text() == "secret"


async def test_server_routes_do_not_follow_links_out_of_the_storage_root(explorer_api, linked: Path) -> None:
    for uri in ("e://users/me/out/secret.txt", "e://users/me/secret-link.txt", "e://users/me/loop/real.txt"):
        got = await explorer_api("GET", "eos/content", params={"uri": uri})
        assert got.code in (403, 404), (uri, got.code)
        assert b"secret" not in got.body or b"symbolic link" in got.body
        put = await explorer_api("PUT", "eos/content", params={"uri": uri.replace("real", "new")}, body=b"evil")
        assert put.code in (403, 404), (uri, put.code)
    gone = await explorer_api("DELETE", "eos/content", params={"uri": "e://users/me/out/", "recursive": "1"})
    assert gone.code in (403, 404)
    listing = await explorer_api("GET", "eos/list", params={"uri": "e://users/me/"})
    assert listing.code == 200
    assert [e["name"] for e in json.loads(listing.body)["entries"]] == ["real.txt"]  # links are skipped
    everything = await explorer_api("DELETE", "eos/content", params={"uri": "e://users/me/", "recursive": "1"})
    assert everything.code in (200, 400)  # a namespace root cannot be deleted; nothing outside either way
    _outside_untouched(linked)


def _d(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "d"), *argv], cwd=cwd, capture_output=True, text=True, timeout=120, input="y\n", check=False
    )


def test_d_does_not_follow_links_and_ls_r_on_a_loop_prints_no_traceback(linked: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "f.txt").write_text("new")
    listed = _d("ls", "-r", "e://users/me/", cwd=work)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    assert listed.stdout.split()[-1] == "real.txt" and len(listed.stdout.splitlines()) == 1
    assert "symbolic link" in listed.stderr  # said, not silently hidden
    for argv in (
        ("cp", "e://users/me/out/secret.txt", "."),
        ("cp", "e://users/me/secret-link.txt", "."),
        ("cp", "f.txt", "e://users/me/out/new.txt"),
        ("cp", "-r", "e://users/me/out/", "copied/"),
        ("rm", "e://users/me/out/victim.txt"),
    ):
        done = _d(*argv, cwd=work)
        assert done.returncode != 0, argv
        assert "Traceback" not in done.stderr, done.stderr
    assert not (work / "secret.txt").exists() and not (work / "copied").exists()
    removed = _d("rm", "-r", "--yes", "e://users/me/", cwd=work)
    assert "Traceback" not in removed.stderr, removed.stderr
    _outside_untouched(linked)


def test_the_sdk_refuses_a_path_through_a_link(linked: Path, tmp_path: Path) -> None:
    with pytest.raises(AccessDenied, match="symbolic link"):
        session.storage().get_bytes("users/alice/files/out/secret.txt")
    with pytest.raises(AccessDenied, match="symbolic link"):
        session.storage().put_bytes("users/alice/files/out/new.txt", b"x")
    with pytest.raises(AccessDenied, match="symbolic link"):
        transfer.delete("e://users/me/out/", recursive=True)
    with pytest.raises(AccessDenied, match="symbolic link"):
        transfer.cp("e://users/me/secret-link.txt", str(tmp_path / "got.txt"))
    with pytest.raises(AccessDenied, match="symbolic link"):
        session.storage().delete("users/alice/files/out/victim.txt")
    _outside_untouched(linked)
