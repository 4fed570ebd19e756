"""Many small uploads through AWS's C runtime (explorer_magics/storage/s3_crt.py), on SeaweedFS
and moto: what it does when it works, and that anything it cannot do goes through botocore and
fails, if it fails, with botocore's error (the one every other path shows)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer_magics import aws, session
from explorer_magics.eos import transfer
from explorer_magics.errors import ExplorerError
from explorer_magics.storage import s3_crt
from explorer_magics.storage.s3 import S3Storage
from tests.s3_servers import use_storage


def native_threads() -> list[str]:
    """The names of this process's threads, C ones included (a thread may end while we look)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            names.append((Path("/proc/self/task") / task / "comm").read_text().strip())
    return names


def tree(root: Path, n: int) -> Path:
    root.mkdir()
    for i in range(n):
        (root / f"f{i:03d}.txt").write_bytes(f"file {i}\n".encode() * (i + 1))
    return root


def stored(prefix: str = "users/alice/files/up/") -> dict[str, bytes]:
    storage = session.storage()
    return {o.key[len(prefix) :]: storage.get_bytes(o.key) for o in storage.iter_objects(prefix)}


def count_one_by_one(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every key that goes up through botocore's ``upload_file`` (one by one)."""
    seen: list[str] = []
    real = S3Storage.upload_file

    def spy(self: S3Storage, path, key, **kw):  # type: ignore[no-untyped-def]
        seen.append(key)
        return real(self, path, key, **kw)

    monkeypatch.setattr(S3Storage, "upload_file", spy)
    return seen


@pytest.mark.parametrize("server", ["s3:seaweedfs", "s3:moto"])
def test_cp_r_of_many_small_files_sends_them_through_the_c_runtime(
    request: pytest.FixtureRequest, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_storage(request, server)
    src = tree(tmp_path / "src", 50)
    one_by_one = count_one_by_one(monkeypatch)
    aws.reset_call_counts()
    result = transfer.cp(f"{src}/", "e://users/me/up/", recursive=True)
    assert result.ok and len(result.done) == 50
    assert result.bytes == sum(p.stat().st_size for p in src.iterdir())
    assert one_by_one == []
    assert aws.call_counts()["s3.PutObject"] == 50
    assert stored() == {p.name: p.read_bytes() for p in src.iterdir()}
    # the C client's threads (named AwsEventLoop<n>, AwsHostResolver) are gone once the copy
    # returns: a later fork of this process inherits none of them
    assert not [name for name in native_threads() if name.startswith("Aws")]


def test_a_few_files_or_the_switch_turned_off_go_through_botocore(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_storage(request, "s3:seaweedfs")
    one_by_one = count_one_by_one(monkeypatch)
    few = tree(tmp_path / "few", s3_crt.MIN_FILES - 1)
    assert transfer.cp(f"{few}/", "e://users/me/up/few/", recursive=True).ok
    assert len(one_by_one) == s3_crt.MIN_FILES - 1
    monkeypatch.setenv("EXPLORER_S3_CRT", "0")
    one_by_one.clear()
    many = tree(tmp_path / "many", 40)
    assert transfer.cp(f"{many}/", "e://users/me/up/many/", recursive=True).ok
    assert len(one_by_one) == 40
    assert len(stored()) == s3_crt.MIN_FILES - 1 + 40


def test_with_a_wrong_secret_every_file_fails_with_botocores_error_and_nothing_is_stored(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SeaweedFS refuses the C client's signature too; each file is then tried through botocore,
    which says what is wrong, as it does for one file."""
    use_storage(request, "s3:seaweedfs")
    src = tree(tmp_path / "src", 40)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    aws.clear_clients()
    try:
        one_by_one = count_one_by_one(monkeypatch)
        result = transfer.cp(f"{src}/", "e://users/me/up/", recursive=True)
        assert not result.done and len(result.failed) == 40
        assert len(one_by_one) == 40
        reasons = {reason for _, reason in result.failed}
        assert len(reasons) == 40 and all("denied" in r.lower() or "credentials" in r.lower() for r in reasons), reasons
    finally:
        monkeypatch.undo()
        aws.clear_clients()
    use_storage(request, "s3:seaweedfs")
    assert stored() == {}


def test_a_file_the_c_client_cannot_send_is_sent_by_botocore_and_the_rest_are_not_repeated(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that is gone by the time it is sent fails alone, with the reason a person can act
    on; the others are stored once."""
    use_storage(request, "s3:moto")
    src = tree(tmp_path / "src", 40)
    real = s3_crt.put_files

    def vanishing(storage, items, **kw):  # type: ignore[no-untyped-def]
        os.unlink(items[7][0])
        return real(storage, items, **kw)

    monkeypatch.setattr(s3_crt, "put_files", vanishing)
    one_by_one = count_one_by_one(monkeypatch)
    result = transfer.cp(f"{src}/", "e://users/me/up/", recursive=True)
    assert len(result.done) == 39
    [(item, reason)] = result.failed
    assert item.src_path and item.src_path.endswith("f007.txt")
    assert "f007.txt" in reason and "Traceback" not in reason
    assert one_by_one == ["users/alice/files/up/f007.txt"]
    assert len(stored()) == 39


@pytest.mark.parametrize("server", ["s3:seaweedfs", "s3:moto"])
def test_cp_r_down_of_many_small_files_goes_through_the_c_runtime_and_keeps_their_times(
    request: pytest.FixtureRequest, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_storage(request, server)
    src = tree(tmp_path / "src", 50)
    assert transfer.cp(f"{src}/", "e://users/me/up/", recursive=True).ok
    one_by_one: list[str] = []
    real = S3Storage.download_file
    monkeypatch.setattr(
        S3Storage, "download_file", lambda self, key, path, **kw: (one_by_one.append(key), real(self, key, path, **kw))
    )
    aws.reset_call_counts()
    result = transfer.cp("e://users/me/up/", f"{tmp_path / 'down'}/", recursive=True)
    assert result.ok and len(result.done) == 50 and one_by_one == []
    assert aws.call_counts()["s3.GetObject"] == 50
    down = tmp_path / "down"
    assert {p.name: p.read_bytes() for p in down.iterdir()} == {p.name: p.read_bytes() for p in src.iterdir()}
    # each file carries its object's time, so syncing back finds nothing to do
    assert transfer.plan_sync("e://users/me/up/", f"{down}/").transfers == ()
    assert not [name for name in native_threads() if name.startswith("Aws")]


def test_an_object_gone_before_its_download_fails_alone_with_botocores_words(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_storage(request, "s3:seaweedfs")
    src = tree(tmp_path / "src", 40)
    assert transfer.cp(f"{src}/", "e://users/me/up/", recursive=True).ok
    plan = transfer.plan_cp("e://users/me/up/", f"{tmp_path / 'down'}/", recursive=True)
    session.storage().delete("users/alice/files/up/f013.txt")
    result = transfer.run(plan)
    assert len(result.done) == 39
    [(item, reason)] = result.failed
    assert item.src_key == "users/alice/files/up/f013.txt"
    assert "f013.txt" in reason and "Traceback" not in reason
    left = sorted(p.name for p in (tmp_path / "down").iterdir())
    assert left == sorted(f"f{i:03d}.txt" for i in range(40) if i != 13)  # no temporary file left behind


def test_where_the_c_client_sends_its_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Path-style to a custom endpoint; the bucket's own name over TLS on AWS; botocore alone
    where the C client would not reach the same server (a bucket with dots on AWS, a proxy)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    custom = S3Storage("s3://data/eos", endpoint_url="http://127.0.0.1:8333", region="us-east-1")
    assert s3_crt._address(custom) == ("127.0.0.1:8333", "/data", False)
    aws_bucket = S3Storage("s3://my-lab-data/eos", endpoint_url=None, region="eu-west-1")
    aws_bucket.endpoint_url = None  # (the environment of the test run may name one)
    assert s3_crt._address(aws_bucket) == ("my-lab-data.s3.eu-west-1.amazonaws.com", "", True)
    dotted = S3Storage("s3://lab.example.org/eos", region="eu-west-1")
    dotted.endpoint_url = None
    assert s3_crt._address(dotted) is None
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    assert s3_crt._address(custom) is None
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert s3_crt._address(custom) == ("127.0.0.1:8333", "/data", False)


def test_botocore_keeps_its_own_signer_unless_told_otherwise() -> None:
    """awscrt being installed does not switch botocore's signing to it (a third more CPU per
    upload, measured); BOTO_DISABLE_CRT=false in the environment still does."""
    code = "import explorer_magics, botocore.auth, botocore.compat; print(botocore.compat.HAS_CRT)"
    env = {k: v for k, v in os.environ.items() if k != "BOTO_DISABLE_CRT"}
    run = [sys.executable, "-c", code]
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip() == "False"
    env["BOTO_DISABLE_CRT"] = "false"
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip() == "True"


def test_a_bad_batch_threshold_is_refused_with_what_to_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLORER_S3_CRT_MIN_FILES", "many")
    with pytest.raises(ExplorerError, match="whole number of files"):
        s3_crt.min_files()
    monkeypatch.setenv("EXPLORER_S3_CRT_MIN_FILES", "5")
    assert s3_crt.min_files() == 5
    monkeypatch.delenv("EXPLORER_S3_CRT_MIN_FILES")
    assert s3_crt.min_files() == s3_crt.MIN_FILES
