"""Every SDK example of reference/storage-and-files.txt, as written, against both storage
backends (a local directory and S3 on moto), plus what the reference states in prose.

The examples are kept below verbatim (``gencove_explorer`` is swapped for ``explorer_magics``
when they run) and run as notebook cells: ``!`` lines go through IPython. Their only
stand-ins: ``~`` is a temporary home, ``https://...`` is a local web server, and
``s3://bucket/path/file.txt`` lives in the moto server.
"""

from __future__ import annotations

import http.server
import os
import pickle
import re
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from explorer_magics import aws, session
from explorer_magics.errors import BackendError, InvalidPath, NotFound
from explorer_magics.models import File
from tests.helpers import notebook_namespace
from tests.s3_servers import STORAGE_PARAMS, use_s3_server, use_storage

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "storage-and-files.txt"

# -- the examples, verbatim ------------------------------------------------------------------
EX_PATH_E_AND_NAME = """from gencove_explorer.models import File

f1 = File(path_e="e://users/me/project-1/file.txt")
f2 = File(name="project-1/file.txt")"""

EX_DOWNLOAD = """# Copy file from EOS via path_e
f1.download()

# Copy file from EOS via name
f2.download()

# Print path to local copy of files
print(f1.path_local)
print(f2.path_local)"""

EX_PATH_S3 = """from gencove_explorer.models import File

f3 = File(path_s3="s3://bucket/path/file.txt")

# Copy file from S3 (you must have necessary IAM permissions)
f3.download()

# Print path to local copy of file
print(f3.path_local)"""

EX_PRINT = """from gencove_explorer.models import File

f = File(name="project-1/file.txt")
print(f)"""

EX_URL = """from gencove_explorer.models import File

f4 = File(url="https://...")

# Copy file from URL (URL must be publicly accessible)
f4.download()

# Print path to local copy of file
print(f4.path_local)"""

EX_PATH_LOCAL = """# Specify local path when creating the File object
f5 = File(name="project-1/file.txt", path_local="~/file.txt")
f5.download()

# Specify local path when calling .download()
f6 = File(name="project-1/file.txt")
f6.download(path_local="~/file.txt")

# Print path to local copy of files
print(f5.path_local)
print(f6.path_local)"""

EX_UPLOAD = """from gencove_explorer.models import File

f1 = File(
    path_local="~/file.txt",
    path_e="e://users/me/project-1/file.txt"
)
f1.upload()"""

EX_EXECUTE = """from gencove_explorer.models import File

f = File(path_local="~/script.sh")
f.execute()"""

EX_EXECUTE_ARGS = """from gencove_explorer.models import File

f = File(path_local="~/script.sh")
f.execute("parameter1", "parameter2")  # equivalent to: ~/script.sh parameter1 parameter2"""

EX_EXECUTE_CAPTURE = """from gencove_explorer.models import File

f = File(path_local="~/script.sh")
c = f.execute(capture_output=True)

print(c.stdout) # Standard output
print(c.stderr) # Standard error"""

EX_ANALYSIS = """from gencove_explorer.models import File
from gencove_explorer.analysis import Analysis, InputShared

a = Analysis(
    input=["a","b","c"],
    input_shared=InputShared(
        script=File(path_local="~/script.sh").upload()
    ),
    function=lambda ac: ac.input_shared.script.execute(ac.input),
).run()"""

EX_TEMP_REMOTE = """from gencove_explorer.models import File

# Create File object with no explicit destination
f = File(path_local="~/file.txt")

# Upload to temporary location
f.upload()"""

EX_TEMP_LOCAL = """from gencove_explorer.models import File

# Create File object with explicit destination
f = File(path_e="e://users/me/project-1/file.txt")

!echo 123 > {f.path_local}

# Upload to temporary location
f.upload()"""

EX_TEMP_BOTH = """from gencove_explorer.models import File

# Create temporary File object
f = File()

!echo 123 > {f.path_local}

# Upload to temporary location
f.upload()

# Get destination
print(f.path_e)"""

EX_PRESIGNED_URL = """from gencove_explorer.models import File

# Create File object with no explicit destination
f = File(path_local="~/file.txt")

# Upload to temporary location
f.upload()

# Generate and print temporary URL for file
print(f.url)"""

EX_SHAREABLE = """from gencove_explorer.models import File

# Create File object in user namespace
f = File(path_local="~/file.txt", path_e="e://users/me/project-1/file.txt")

# Copy to temporary location on EOR
f.upload()

print(f.path_e_shareable)"""

EXAMPLES = [
    EX_PATH_E_AND_NAME, EX_DOWNLOAD, EX_PATH_S3, EX_PRINT, EX_URL, EX_PATH_LOCAL, EX_UPLOAD,
    EX_EXECUTE, EX_EXECUTE_ARGS, EX_EXECUTE_CAPTURE, EX_ANALYSIS, EX_TEMP_REMOTE, EX_TEMP_LOCAL,
    EX_TEMP_BOTH, EX_PRESIGNED_URL, EX_SHAREABLE,
]  # fmt: skip

SCRIPT = 'echo "script ran with: $*"\necho "a warning" >&2\n'


def cell(source: str, **replace: str) -> dict:
    """Run an example as a notebook cell (with the package renamed, and ``replace`` applied)."""
    source = source.replace("gencove_explorer.", "explorer_magics.")
    for old, new in replace.items():
        source = source.replace(old, new)
    return notebook_namespace(source)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(params=STORAGE_PARAMS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Storage is a local directory or S3 (SeaweedFS, moto); ``~`` is a fresh temporary home
    holding file.txt and script.sh; ``s3://bucket/path/file.txt`` exists (on the S3 server of the
    test, SeaweedFS for local storage) in both cases."""
    name = use_storage(request, request.param)
    if name == "local":
        endpoint = use_s3_server(request, "seaweedfs").endpoint
        monkeypatch.setenv("EXPLORER_S3_ENDPOINT_URL", endpoint)  # for path_s3= outside EOS
        session.reset()
    else:
        endpoint = session.settings().of(aws.S3Settings).endpoint_url
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (home / "file.txt").write_text("local file\n")
    (home / "script.sh").write_text(SCRIPT)
    s3 = aws.client("s3", endpoint_url=endpoint, region="us-east-1")
    try:
        s3.create_bucket(Bucket="bucket")
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    s3.put_object(Bucket="bucket", Key="path/file.txt", Body=b"from another bucket\n")
    return name


@pytest.fixture
def web_file(tmp_path: Path) -> Iterator[str]:
    """``http://127.0.0.1:<port>/data.txt`` served by a local web server."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.txt").write_text("from the web\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # noqa: ANN002, ANN003
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data.txt"
    finally:
        server.shutdown()
        server.server_close()


def put(key: str, data: bytes) -> None:
    session.storage().put_bytes(key, data)


def get(key: str) -> bytes:
    return session.storage().get_bytes(key)


def home() -> Path:
    return Path(os.environ["HOME"])


# -- the examples ---------------------------------------------------------------------------------
def test_the_examples_are_the_references_own_words() -> None:
    if not REFERENCE.exists():
        pytest.skip("the reference documentation is not beside this checkout")
    text = REFERENCE.read_text(encoding="utf-8", errors="replace")
    for example in EXAMPLES:
        assert example in text, example


def test_downloading_by_path_e_and_by_name(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    put("users/alice/files/project-1/file.txt", b"remote contents\n")
    ns = cell(EX_PATH_E_AND_NAME)
    assert not Path(ns["f1"].path_local).exists()  # lazy: nothing moved yet
    assert ns["f1"].path_e == ns["f2"].path_e == "e://users/me/project-1/file.txt"
    ns = cell(EX_DOWNLOAD)
    printed = capsys.readouterr().out.split()
    assert printed == [ns["f1"].path_local, ns["f2"].path_local]
    for path in printed:
        assert Path(path).read_bytes() == b"remote contents\n"
        assert Path(path).name == "file.txt"
        assert Path(path).is_relative_to(Path(os.environ.get("TMPDIR", "/tmp")))


def test_downloading_by_path_s3(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = cell(EX_PATH_S3)
    assert capsys.readouterr().out.strip() == ns["f3"].path_local
    assert Path(ns["f3"].path_local).read_text() == "from another bucket\n"
    assert ns["f3"].path_s3 == "s3://bucket/path/file.txt"


def test_name_path_e_and_path_s3_are_one_location(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    put("users/alice/files/project-1/file.txt", b"x")
    ns = cell(EX_PRINT)
    shown = capsys.readouterr().out
    assert "name='project-1/file.txt'" in shown
    assert "path_e='e://users/me/project-1/file.txt'" in shown
    f = ns["f"]
    if backend == "s3":
        bucket = session.storage().bucket  # type: ignore[attr-defined]
        assert f.path_s3 == f"s3://{bucket}/eos/users/alice/files/project-1/file.txt"
        assert f"path_s3='{f.path_s3}'" in shown
        assert re.search(r"url='http://127\.0\.0\.1:\d+/", shown)
        same = File(path_s3=f.path_s3)
        assert same.path_e == f.path_e and same.name == "project-1/file.txt"
        assert Path(same.download().path_local).read_bytes() == b"x"
    else:
        assert f.path_s3 is None and "url=None" in shown


def test_downloading_a_url(backend: str, web_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = cell(EX_URL, **{"https://...": web_file})
    assert capsys.readouterr().out.strip() == ns["f4"].path_local
    assert Path(ns["f4"].path_local).read_text() == "from the web\n"
    assert Path(ns["f4"].path_local).name == "data.txt"


def test_choosing_the_local_path(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    put("users/alice/files/project-1/file.txt", b"remote contents\n")
    cell(EX_PATH_E_AND_NAME)
    cell(EX_PATH_LOCAL)
    expected = str(home() / "file.txt")
    assert capsys.readouterr().out.split() == [expected, expected]
    assert Path(expected).read_bytes() == b"remote contents\n"


def test_arguments_must_be_given_by_keyword(backend: str) -> None:
    with pytest.raises(TypeError, match=re.escape("File.__init__() takes 1 positional argument but 2 were given")):
        File("project-1/file.txt")  # type: ignore[misc]


def test_uploading(backend: str) -> None:
    cell(EX_UPLOAD)
    assert get("users/alice/files/project-1/file.txt") == b"local file\n"


def test_executing_a_script(backend: str, capfd: pytest.CaptureFixture[str]) -> None:
    cell(EX_EXECUTE)
    out, err = capfd.readouterr()
    assert out == "script ran with: \n" and err == "a warning\n"
    cell(EX_EXECUTE_ARGS)
    out, _ = capfd.readouterr()
    assert out == "script ran with: parameter1 parameter2\n"
    ns = cell(EX_EXECUTE_CAPTURE)
    out, _ = capfd.readouterr()
    assert ns["c"].stdout == "script ran with: \n"
    assert ns["c"].stderr == "a warning\n"
    assert out == "script ran with: \n\na warning\n\n"


def test_a_shebang_line_chooses_the_interpreter(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    script = home() / "script.py"
    script.write_text("#!/usr/bin/env python\nimport sys\nprint('python got', sys.argv[1:])\n")
    done = File(path_local="~/script.py").execute("x", 2, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "python got ['x', '2']\n"


def test_a_script_from_eos_runs_on_every_element(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The real-world example: the script travels through EOS to each element of an array
    (compute=local, storage as the backend says: with S3 the analysis record lives there)."""
    ns = cell(EX_ANALYSIS)
    a = ns["a"]
    a.wait_done(timeout=120)
    assert a.status()["status"] == "SUCCEEDED", a.status()
    capsys.readouterr()
    for i, letter in enumerate("abc"):
        a.logs(i)
        assert capsys.readouterr().out == f"script ran with: {letter}\n"
    keys = [o.key for o in session.storage().iter_objects(f"users/alice/analyses/{a.id}/")]
    assert f"users/alice/analyses/{a.id}/manifest.json" in keys
    assert any(
        k.startswith("users/alice/tmp/") for k in (o.key for o in session.storage().iter_objects("users/alice/"))
    )


def test_a_file_unpickled_elsewhere_downloads_its_remote_copy(backend: str, tmp_path: Path) -> None:
    """What happens on a cluster node: the local path the notebook used does not exist there."""
    f = File(path_local="~/file.txt").upload()
    travelled = pickle.loads(pickle.dumps(f))
    Path(f.path_local).unlink()
    assert Path(travelled.as_local()).read_text() == "local file\n"
    assert travelled.as_local() == Path(travelled.path_local)


def test_temporary_remote_file(backend: str) -> None:
    ns = cell(EX_TEMP_REMOTE)
    f = ns["f"]
    assert f.path_e.startswith("e://users/me/.tmp/") and f.path_e.endswith("/file.txt")
    assert f.path_local == str(home() / "file.txt")
    assert File(path_e=f.path_e).download().path_local != f.path_local
    assert Path(File(path_e=f.path_e).as_local()).read_text() == "local file\n"
    again = cell(EX_TEMP_REMOTE)["f"]
    assert again.path_e != f.path_e  # unique every time


def test_temporary_local_file(backend: str) -> None:
    ns = cell(EX_TEMP_LOCAL)
    assert get("users/alice/files/project-1/file.txt") == b"123\n"
    assert Path(ns["f"].path_local).parent != home()


def test_temporary_local_and_remote_file(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = cell(EX_TEMP_BOTH)
    shown = capsys.readouterr().out.strip()
    assert shown == ns["f"].path_e
    assert re.fullmatch(r"e://users/me/\.tmp/[0-9a-f]{32}/file", shown)
    assert Path(File(path_e=shown).as_local()).read_text() == "123\n"


def test_a_url_for_a_remote_file(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    if backend == "local":
        with pytest.raises(BackendError, match="cannot make shareable URLs"):
            cell(EX_PRESIGNED_URL)
        return
    cell(EX_PRESIGNED_URL)
    url = capsys.readouterr().out.strip()
    assert "X-Amz-Expires=172800" in url  # 48 hours
    with urllib.request.urlopen(url) as resp:  # noqa: S310 - a local moto URL
        assert resp.read() == b"local file\n"


def test_sharing_a_file(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    ns = cell(EX_SHAREABLE)
    assert capsys.readouterr().out.strip() == "e://users/alice/project-1/file.txt"
    assert ns["f"].path_e == "e://users/me/project-1/file.txt"
    # what a colleague sees with the shared URI
    assert File(path_e="e://users/alice/project-1/file.txt").path_e_shareable == "e://users/alice/project-1/file.txt"


# -- what the reference says in prose ---------------------------------------------------------------
def test_nothing_moves_until_asked(backend: str) -> None:
    f = File(name="not/there/yet.txt", path_local="~/out/yet.txt")
    assert not (home() / "out" / "yet.txt").exists()
    with pytest.raises(NotFound, match="e://users/me/not/there/yet.txt"):
        f.download()
    assert not (home() / "out" / "yet.txt").exists()


def test_one_remote_location_at_most(backend: str) -> None:
    with pytest.raises(InvalidPath, match="at most one remote location"):
        File(name="a.txt", path_e="e://users/me/a.txt")


def test_ftp_and_uploads_to_urls_are_refused(backend: str, web_file: str) -> None:
    with pytest.raises(InvalidPath, match="FTP is not supported"):
        File(url="ftp://example.org/file.txt")
    with pytest.raises(InvalidPath, match="read only"):
        File(url=web_file, path_local="~/file.txt").upload()


def test_upload_and_download_return_the_file(backend: str) -> None:
    f = File(path_local="~/file.txt", name="chain.txt")
    assert f.upload() is f
    assert f.download() is f
    assert f.as_local() == Path(f.path_local)


def test_as_local_downloads_once(backend: str) -> None:
    put("users/alice/files/once.txt", b"v1")
    f = File(name="once.txt")
    aws.reset_call_counts()
    first = f.as_local()
    put("users/alice/files/once.txt", b"v2")
    assert f.as_local() == first
    assert Path(first).read_bytes() == b"v1"
    if backend == "s3":
        assert aws.call_counts()["s3.GetObject"] == 1


def test_uploading_a_missing_local_file_says_what_to_do(backend: str) -> None:
    with pytest.raises(NotFound, match="no local file"):
        File(path_local="~/nope.txt").upload()


def test_a_file_elsewhere_on_s3_without_credentials_says_so_instead_of_crashing(monkeypatch, tmp_path):
    from explorer_magics import aws
    from explorer_magics.errors import BackendError

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.clear_clients()
    f = File(path_s3="s3://someone-elses-bucket/reads.bam")
    with pytest.raises(BackendError, match="s3://someone-elses-bucket/reads.bam"):
        f.url  # noqa: B018 - the property is what is tested
    assert "url=None" in repr(f)  # showing it in a notebook still works
    aws.clear_clients()


def test_files_only_referred_to_make_no_temp_folders(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    samples = [File(path_e=f"e://users/me/crams/S{i}.cram") for i in range(100)]
    assert list(tmp_path.iterdir()) == []  # a sample sheet of Files costs nothing on disk
    local = Path(samples[7].path_local)
    assert local.name == "S7.cram" and local.parent.parent == tmp_path
    assert samples[7].path_local == str(local)  # the same path every time it is asked
    assert len(list(tmp_path.iterdir())) == 1
