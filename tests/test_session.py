"""The explicit session: two users with two storages in one process never cross.

An Analysis, a File and a JobManager keep the session they were made with; the process default
(``session.current()``) is only what a caller that passed none gets.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from explorer_magics import session
from explorer_magics.analysis import Analysis, AnalysisContext
from explorer_magics.config import get_settings
from explorer_magics.errors import NotFound
from explorer_magics.job_manager import JobManager
from explorer_magics.models import File
from explorer_magics.session import Session


def owner_and_note(ac: AnalysisContext):
    """Where the element runs: its user, and a File it writes (which means the element's session)."""
    from explorer_magics.models import File as ElementFile

    note = ElementFile(name=f"notes/{ac.input}.txt")
    Path(note.path_local).write_text(f"element {ac.input}\n")
    note.upload()
    ac.output.value(key="user", value=session.current().user)
    ac.output.value(key="note", value=note.path_e_shareable)


def _session(tmp_path: Path, user: str) -> Session:
    return Session(get_settings(user=user, storage=str(tmp_path / f"storage-{user}")))


@pytest.fixture
def two(tmp_path):
    a, b = _session(tmp_path, "alice"), _session(tmp_path, "bob")
    yield a, b
    a.close()
    b.close()


def test_two_sessions_in_one_process_keep_their_own_analyses_and_files(two, tmp_path):
    a, b = two
    runs = {}
    for s in (a, b):
        local = tmp_path / f"{s.user}.txt"
        local.write_text(f"{s.user}'s data\n")
        File(name="data/own.txt", path_local=local, session=s).upload()
        runs[s.user] = Analysis(owner_and_note, input=[s.user], name="whose", session=s).run()
    for s in (a, b):
        an = runs[s.user]
        assert an.wait_done(timeout=120)["status"] == "SUCCEEDED", an.status(0)
        out = an.get_output(0)
        assert out.value("user") == s.user  # the element ran with its submitter's settings
        assert out.value("note") == f"e://users/{s.user}/notes/{s.user}.txt"
        # each storage holds only its own user's files and analyses
        note = File(path_e=f"e://users/{s.user}/notes/{s.user}.txt", session=s)
        assert note.as_local().read_text() == f"element {s.user}\n"
        assert [j.id for j in JobManager(session=s).list_jobs()] == [an.id]
        assert File(name="data/own.txt", session=s).as_local().read_text() == f"{s.user}'s data\n"
    for s, other in ((a, b), (b, a)):
        assert not (Path(s.settings.storage_url) / "users" / other.user).exists()
        with pytest.raises(NotFound):
            JobManager(session=s).get_analysis(runs[other.user].id)
        with pytest.raises(NotFound):
            File(path_e=f"e://users/{other.user}/data/own.txt", session=s).download()
    # the process default (the environment's user and storage) saw none of it
    assert JobManager().list_jobs() == []
    assert session.current().user == "alice" and session.current().storage.url not in (
        a.storage.url,
        b.storage.url,
    )


def test_an_analysis_keeps_its_session_when_the_default_changes(two, monkeypatch):
    _, b = two
    an = Analysis(owner_and_note, input="x", name="kept", session=b)
    an.run_local()
    monkeypatch.setenv("EXPLORER_USER", "carol")
    session.reset()  # a notebook's default now means carol on the default storage
    assert session.current().user == "carol"
    assert an.status() == {"status": "SUCCEEDED"}
    assert an.get_output().value("note") == "e://users/bob/notes/x.txt"
    again = JobManager(session=b).get_analysis(an.id)
    assert again.session is b and again.get_output().value("user") == "bob"


def test_a_file_sent_to_an_element_means_the_elements_session(two):
    a, _ = two
    f = File(name="x.txt", session=a)
    assert f.session is a
    copy = pickle.loads(pickle.dumps(f))
    assert copy.session is session.current()  # where it is unpickled: the element's default
    assert copy.path_e == "e://users/me/x.txt"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(a)


def test_the_default_session_is_built_once_and_reset_forgets_it(monkeypatch):
    first = session.current()
    assert session.current() is first and session.settings() is first.settings
    assert Analysis(owner_and_note).session is first and File(name="y.txt").session is first
    monkeypatch.setenv("EXPLORER_USER", "dave")
    session.reset()
    assert session.current() is not first and session.current().user == "dave"


def test_a_dependency_from_another_session_is_refused_before_anything_is_written(two):
    a, b = two
    upstream = Analysis(owner_and_note, input="u", name="upstream", session=a)
    downstream = Analysis(owner_and_note, input="d", name="downstream", depends_on=[upstream], session=b)
    with pytest.raises(Exception, match="belongs to user 'alice'.*Nothing was submitted"):
        downstream.run()
    assert upstream.id is None and downstream.id is None
    assert JobManager(session=a).list_jobs() == [] and JobManager(session=b).list_jobs() == []
