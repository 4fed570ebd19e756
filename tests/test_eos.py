"""e:// URIs, namespaces and THE access rule — and that every SDK face obeys it before a byte
moves: File, and the transfer functions behind ``d`` (the CLI itself: test_cli_data.py).

Users: the current user is ``alice`` (tests/conftest.py); ``bob`` is another user.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer_magics import eos, eos_transfer, session
from explorer_magics.errors import AccessDenied, ExplorerError, InvalidPath, NotFound
from explorer_magics.models import File
from tests.s3_servers import STORAGE_PARAMS, use_storage


@pytest.fixture(params=STORAGE_PARAMS)
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test against the local directory storage and against S3 (SeaweedFS, moto)."""
    return use_storage(request, request.param)


def all_keys() -> list[str]:
    return [o.key for o in session.storage().iter_objects("")]


# -- parsing --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("e://users/me/project-1/file.txt", "users/alice/files/project-1/file.txt"),
        ("e://users/alice/project-1/file.txt", "users/alice/files/project-1/file.txt"),
        ("e://users/bob/shared/x.vcf", "users/bob/files/shared/x.vcf"),
        ("e://users/me/", "users/alice/files/"),
        ("e://users/me", "users/alice/files/"),
        ("e://org/ref/genome.fa", "org/files/ref/genome.fa"),
        ("e://public/hg38/", "public/files/hg38/"),
        ("e://users/me/.tmp/abc/f.txt", "users/alice/tmp/abc/f.txt"),
    ],
)
def test_each_namespace_maps_to_one_place_in_storage(uri: str, key: str) -> None:
    loc = eos.parse_uri(uri, user="alice")
    assert loc.key == key
    back = eos.key_to_eos(key)
    assert back is not None and back.key == key


def test_me_is_the_current_user_and_shareable_uris_name_them() -> None:
    loc = eos.parse_uri("e://users/me/a/b.txt", user="alice")
    assert loc.owner == "alice"
    assert loc.uri == "e://users/alice/a/b.txt"
    assert loc.uri_for("alice") == "e://users/me/a/b.txt"
    assert loc.uri_for("bob") == "e://users/alice/a/b.txt"


@pytest.mark.parametrize(
    "uri",
    [
        "e://users/me/../bob/x",  # climbs out of the user's namespace
        "e://users/me/a/../../bob/x",
        "e://org/../users/bob/x",
        "e://public/./x",
        "e://users/me//x",  # empty segment
        "e://users/me/a\\..\\b",  # backslashes
        "e://users/me/a\x00b",
        "e://users//x",  # no user
        "e://users/",
        "e://users/../x",
        "e://users/b%2Fob/x",  # a user name with an (encoded) slash
        "e://users/me!/x",
        "e:///users/me/x",  # an absolute key
        "e://gencove/x",  # unknown namespace
        "e://home/alice/x",
        "s3://bucket/x",  # not an EOS URI
        "users/me/x",
    ],
)
def test_uris_that_escape_or_name_nothing_are_refused(uri: str) -> None:
    with pytest.raises(InvalidPath):
        eos.parse_uri(uri, user="alice")


# -- the rule ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "read", "write"),
    [
        ("users/alice/files/x", True, True),
        ("users/alice/tmp/abc/x", True, True),
        ("users/alice/analyses/2023-05-08T000000_a_0123/manifest.json", True, True),
        ("users/bob/files/x", True, False),
        ("users/bob/tmp/abc/x", True, False),
        ("org/files/x", True, True),
        ("public/files/x", True, False),
        ("elsewhere/files/x", False, False),
        ("users/", False, False),
    ],
)
def test_the_access_rule(key: str, read: bool, write: bool) -> None:
    for writing, allowed in ((False, read), (True, write)):
        if allowed:
            eos.check_access("alice", key, write=writing)
        else:
            with pytest.raises(AccessDenied):
                eos.check_access("alice", key, write=writing)


@pytest.mark.parametrize(
    "key", ["users/alice/files/../../bob/files/x", "users/alice/files//x", "/org/files/x", "org/files/a\\b"]
)
def test_the_access_rule_refuses_keys_that_escape(key: str) -> None:
    with pytest.raises(ExplorerError):
        eos.check_access("alice", key, write=False)


@pytest.mark.parametrize("user", ["", "me", "a/b", "../bob", "bob/../alice"])
def test_the_access_rule_refuses_a_user_name_that_is_not_one(user: str) -> None:
    with pytest.raises(AccessDenied):
        eos.check_access(user, "org/files/x", write=False)


def test_refusals_say_why_and_what_to_do() -> None:
    with pytest.raises(AccessDenied, match=r"belongs to bob.*e://users/me/"):
        eos.check_access("alice", "users/bob/files/x", write=True)
    with pytest.raises(AccessDenied, match="read-only reference data"):
        eos.check_access("alice", "public/files/x", write=True)
    with pytest.raises(InvalidPath, match="cannot leave"):
        eos.parse_uri("e://users/me/../bob/x", user="alice")


# -- the SDK faces obey it --------------------------------------------------------------------
def seed(key: str, data: bytes = b"data") -> None:
    session.storage().put_bytes(key, data)


def test_file_reads_another_users_files_but_cannot_write_them(backend: str, tmp_path: Path) -> None:
    seed("users/bob/files/shared/ref.txt", b"bob's data")
    f = File(path_e="e://users/bob/shared/ref.txt").download(tmp_path / "ref.txt")
    assert Path(f.path_local).read_bytes() == b"bob's data"
    mine = tmp_path / "mine.txt"
    mine.write_text("alice's data")
    before = all_keys()
    with pytest.raises(AccessDenied, match="belongs to bob"):
        File(path_local=mine, path_e="e://users/bob/shared/ref.txt").upload()
    with pytest.raises(AccessDenied):
        File(path_local=mine, path_e="e://users/bob/new.txt").upload()
    assert all_keys() == before
    assert session.storage().get_bytes("users/bob/files/shared/ref.txt") == b"bob's data"


def test_file_reads_public_data_but_cannot_write_it(backend: str, tmp_path: Path) -> None:
    seed("public/files/hg38/chr1.fa", b">chr1")
    f = File(path_e="e://public/hg38/chr1.fa")
    assert Path(f.as_local()).read_bytes() == b">chr1"
    local = tmp_path / "x.fa"
    local.write_text(">mine")
    with pytest.raises(AccessDenied, match="read-only"):
        File(path_local=local, path_e="e://public/hg38/chr1.fa").upload()
    assert session.storage().get_bytes("public/files/hg38/chr1.fa") == b">chr1"


def test_file_writes_org_and_its_own_namespace(backend: str, tmp_path: Path) -> None:
    local = tmp_path / "x.txt"
    local.write_text("x")
    File(path_local=local, path_e="e://org/team/x.txt").upload()
    File(path_local=local, name="own/x.txt").upload()
    assert {"org/files/team/x.txt", "users/alice/files/own/x.txt"} <= set(all_keys())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "../bob/files/x"},
        {"name": "a/../../../bob/files/x"},
        {"name": "/etc/passwd"},
        {"path_e": "e://users/me/../bob/x"},
        {"path_e": "e://users/me/a/../../bob/x"},
        {"path_e": "e://org/../public/x"},
        {"path_e": "e://elsewhere/x"},
    ],
)
def test_file_refuses_an_escaping_location_before_anything_moves(backend: str, tmp_path: Path, kwargs: dict) -> None:
    local = tmp_path / "x.txt"
    local.write_text("x")
    with pytest.raises(InvalidPath):
        File(path_local=local, **kwargs).upload()
    assert all_keys() == []


def test_transfers_refuse_a_write_they_may_not_make_and_change_nothing(backend: str, tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    for i in range(3):
        (folder / f"f{i}.txt").write_text(str(i))
    seed("public/files/keep.txt", b"keep")
    seed("users/bob/files/keep.txt", b"keep")
    before = all_keys()
    for dst in ("e://public/", "e://users/bob/", "e://users/bob/sub/"):
        with pytest.raises(AccessDenied):
            eos_transfer.cp(str(folder), dst, recursive=True)
        with pytest.raises(AccessDenied):
            eos_transfer.sync(str(folder), dst, delete=True)
    with pytest.raises(AccessDenied):
        eos_transfer.rm("e://public/keep.txt")
    with pytest.raises(AccessDenied):
        eos_transfer.rm("e://users/bob/", recursive=True)
    with pytest.raises(AccessDenied):
        eos_transfer.cp("e://public/keep.txt", "e://users/bob/copy.txt")
    with pytest.raises(InvalidPath):
        eos_transfer.cp(str(folder / "f0.txt"), "e://users/me/../bob/f0.txt")
    assert all_keys() == before


def test_transfers_read_other_users_and_public_data(backend: str, tmp_path: Path) -> None:
    seed("users/bob/files/data/a.txt", b"a")
    seed("public/files/ref/r.txt", b"r")
    eos_transfer.cp("e://users/bob/data/", str(tmp_path / "bob"), recursive=True)
    eos_transfer.cp("e://public/ref/r.txt", "e://users/me/ref/r.txt")
    assert (tmp_path / "bob" / "a.txt").read_bytes() == b"a"
    assert session.storage().get_bytes("users/alice/files/ref/r.txt") == b"r"


def test_listing_another_users_folder_is_allowed_and_escapes_are_not(backend: str) -> None:
    seed("users/bob/files/x/y.txt")
    names = [e.name for e in eos_transfer.ls("e://users/bob/x/")]
    assert names == ["y.txt"]
    with pytest.raises(InvalidPath):
        list(eos_transfer.ls("e://users/bob/../alice/"))
    with pytest.raises(NotFound):
        eos_transfer.presign("e://users/bob/none.txt")
