"""``%%explorer_job`` and the line magics, driven through a real InteractiveShell and the
local cluster (``run_cell_magic`` / ``run_line_magic``, as a notebook cell would)."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from explorer_magics import session
from explorer_magics.analysis import Analysis
from explorer_magics.job_manager import JobManager

from .helpers import wait_for


@pytest.fixture
def ip():
    """The process's InteractiveShell with ``%load_ext explorer_magics`` done; names a test
    adds to the notebook namespace are removed afterwards."""
    from explorer_magics import shell

    ipython = shell.get_ipython()
    ipython.run_line_magic("load_ext", "explorer_magics")
    before = set(ipython.user_ns)
    yield ipython
    for name in set(ipython.user_ns) - before:
        del ipython.user_ns[name]


def _submitted() -> list:
    return JobManager().list_jobs()


def test_load_ext_registers_the_cell_and_line_magics(ip):
    magics = ip.magics_manager.magics
    assert "explorer_job" in magics["cell"]
    assert {"explorer_jobs", "explorer_status", "explorer_logs"} <= set(magics["line"])


def test_the_cell_runs_on_the_cluster_with_notebook_names_captured_by_value(ip, capsys):
    ip.user_ns["greeting"] = "hi"
    ip.run_cell("def twice(s):\n    return s * 2\n")
    ip.run_cell_magic(
        "explorer_job",
        "--name greet --input \"['a', 'b']\"",
        "word = twice(ac.input)\n!echo {greeting} {word}\nac.output.value('said', f'{greeting} {word}')\n",
    )
    an = ip.user_ns["greet"]
    assert isinstance(an, Analysis) and an.name == "greet" and an.size == 2
    assert f"Analysis ID: {an.id}" in capsys.readouterr().out
    ip.user_ns["greeting"] = "changed after submission"
    assert an.wait_done(timeout=60)["status"] == "SUCCEEDED"
    assert [an.get_output(i).value("said") for i in range(2)] == ["hi aa", "hi bb"]
    an.logs(1)
    assert capsys.readouterr().out.splitlines() == ["hi bb"]


# The reference's table of ! / {} / $$ behaviour, through the magic, on the cluster and here.
SHELL_TABLE = """
two = "dos"
a = !echo "1 {two} 3" | awk '{{print $$2}}'
b = !echo "1 {two} 3" | awk '{print $2}'
c = !echo "1 {two} 3" | awk '{print $$2}'
d = !localcopy="-> {two} <-"; echo $$localcopy
e = !localcopy="-> {two} <-"; echo $localcopy
ac.output.value("table", [a.n, b.n, c.n, d.n, e.n])
"""
EXPECTED_TABLE = ["dos", "{two}", "1 {two} 3", "-> dos <-", "-> {two} <-"]


@pytest.mark.parametrize("where", ["--wait", "--local"])
def test_shell_lines_substitute_exactly_as_the_reference_documents(ip, where):
    ip.run_cell_magic("explorer_job", f"--name table {where}", SHELL_TABLE)
    an = ip.user_ns["table"]
    assert an.status()["status"] == "SUCCEEDED"
    assert an.get_output().value("table") == EXPECTED_TABLE


def test_options_become_the_analysis_input_shared_config_and_resources(ip):
    ip.user_ns["reference"] = "hg38.fa"
    ip.run_cell_magic(
        "explorer_job",
        "--input 7 --shared ref=reference --shared n=2+3 --global \"age_map={'sheep': 5}\" "
        "--cpu 1 --memory 1G --timeout 10m --image example/img:1 --pip pendulum --pip 'rich>=13' "
        "--name options --as an --local",
        "ac.output.value('seen', (ac.input, ac.input_shared.ref, ac.input_shared.n,\n"
        "                         ac.global_context.age_map['sheep'], ac.job_definition.cpu))\n",
    )
    assert "options" not in ip.user_ns
    an = ip.user_ns["an"]
    assert an.name == "options"
    assert an.get_output().value("seen") == (7, "hg38.fa", 5, 5, 1)
    jd = an.manifest.job_definition
    assert (jd["cpu"], jd["memory_mb"], jd["timeout_seconds"], jd["image"]) == (1, 1024, 600, "example/img:1")
    assert an.manifest.pip_packages == ("pendulum", "rich>=13")


def test_the_name_defaults_to_the_as_variable_then_to_job(ip):
    ip.run_cell_magic("explorer_job", "--as mine --local", "ac.output.x = 1")
    assert ip.user_ns["mine"].name == "mine"
    ip.run_cell_magic("explorer_job", "--local", "ac.output.x = 2")
    assert ip.user_ns["job"].name == "job"
    assert ip.user_ns["job"].get_output().value("x") == 2


def test_depends_on_takes_analysis_variables_and_wait_shows_the_outputs(ip, capsys):
    ip.run_cell_magic("explorer_job", "--name first --input 3", "ac.output.n = ac.input * 2")
    ip.run_cell_magic(
        "explorer_job",
        "--name second --depends-on first --wait",
        "print('adding one')\nac.output.total = ac.dependency('first').get_output().value('n') + 1\n",
    )
    out = capsys.readouterr().out
    assert "adding one\n" in out  # a single job's log is followed while --wait waits
    assert "second: SUCCEEDED" in out
    assert "total=7" in out
    assert ip.user_ns["second"].depends_on == [ip.user_ns["first"]]


def test_wait_on_an_array_lists_failed_elements_first_then_outputs(ip, capsys):
    ip.run_cell_magic("explorer_job", "--name inverse --input '[4, 0]' --wait", "ac.output.inv = 1 / ac.input")
    out = capsys.readouterr().out
    assert "inverse: FAILED (2 elements: " in out
    failed = out.index("[1] FAILED: ZeroDivisionError: division by zero  -> .logs(1)")
    assert failed < out.index("[0] inv=0.25")


def test_local_runs_in_this_kernel_and_raises_the_cells_error(ip):
    with pytest.raises(ZeroDivisionError):
        ip.run_cell_magic("explorer_job", "--name broken --local", "print('before')\n1 / 0\n")
    an = ip.user_ns["broken"]
    assert an.status()["status"] == "FAILED"


def test_a_syntax_error_in_the_cell_is_raised_and_nothing_is_submitted(ip):
    with pytest.raises(SyntaxError):
        ip.run_cell_magic("explorer_job", "--name bad", "x = = 1\n")
    assert _submitted() == []


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("--input undefined_thing", ["--input", "NameError", "undefined_thing"]),
        ("--input 'x = 1'", ["--input", "not a Python expression"]),
        ("--shared nothing", ["--shared", "NAME=EXPR"]),
        ("--shared 1x=2", ["--shared", "not a valid name"]),
        ("--global n=missing", ["--global", "NameError"]),
        ("--cpu -1", ["--cpu", "positive"]),
        ("--cpu many", ["--cpu", "invalid float value"]),
        ("--memory lots", ["--memory", "megabytes"]),
        ("--timeout soon", ["--timeout", "duration"]),
        ("--depends-on not_an_analysis", ["--depends-on", "int, not an Analysis"]),
        ("--bogus", ["unrecognized arguments", "--bogus"]),
        ("--name 'two words'", ["--name", "--as"]),
    ],
)
def test_bad_options_are_usage_errors_that_say_which_and_why(ip, line, says):
    ip.user_ns["not_an_analysis"] = 3
    with pytest.raises(UsageError) as err:
        ip.run_cell_magic("explorer_job", line, "ac.output.x = 1")
    for part in says:
        assert part in str(err.value)
    assert _submitted() == []


def test_explorer_jobs_is_a_table_of_recent_analyses_with_their_status(ip):
    ip.run_cell_magic("explorer_job", "--name alpha --input '[1, 2]' --wait", "ac.output.x = ac.input")
    ip.run_cell_magic("explorer_job", "--name beta --wait", "ac.output.x = 0")
    table = ip.run_line_magic("explorer_jobs", "--since 1h")
    assert [row["name"] for row in table] == ["beta", "alpha"]
    assert [row["status"] for row in table] == ["SUCCEEDED", "SUCCEEDED"]
    text = repr(table)
    assert text.splitlines()[0].split() == ["created", "(UTC)", "name", "status", "elements", "id"]
    assert ip.user_ns["alpha"].id in text and "2 (SUCCEEDED 2)" in text
    assert "<table>" in table._repr_html_()
    assert [row["name"] for row in ip.run_line_magic("explorer_jobs", "--name ALP")] == ["alpha"]
    assert len(ip.run_line_magic("explorer_jobs", "--limit 1")) == 1
    with pytest.raises(UsageError, match="duration"):
        ip.run_line_magic("explorer_jobs", "--since soon")


def test_explorer_status_by_id_or_variable_lists_failed_elements(ip, capsys):
    ip.run_cell_magic("explorer_job", "--name inverse --input '[1, 0, 0]'", "ac.output.inv = 1 / ac.input")
    an = ip.user_ns["inverse"]
    an.wait_done(timeout=60)
    capsys.readouterr()
    ip.run_line_magic("explorer_status", an.id)
    by_id = capsys.readouterr().out
    assert "inverse: FAILED (3 elements: " in by_id
    assert "[1] ZeroDivisionError: division by zero" in by_id and "[2] ZeroDivisionError" in by_id
    ip.run_line_magic("explorer_status", "inverse")
    assert capsys.readouterr().out == by_id
    with pytest.raises(UsageError, match="neither a variable"):
        ip.run_line_magic("explorer_status", "2023-05-08T000000_nope_17eb494f3d5349c88959bace7a6b7873")


def test_explorer_logs_prints_an_elements_log_and_live_follows_it_to_the_end(ip, capsys):
    ip.run_cell_magic(
        "explorer_job",
        "--name talk --input '[1, 2]'",
        "import sys, time\n"
        "for n in range(3):\n"
        "    print(f'element {ac.input} line {n}', flush=True)\n"
        "    time.sleep(0.3)\n"
        "print('to stderr', file=sys.stderr)\n",
    )
    an = ip.user_ns["talk"]
    capsys.readouterr()
    ip.run_line_magic("explorer_logs", f"{an.id} 1 --live")
    assert an.status(1)["status"] == "SUCCEEDED"
    captured = capsys.readouterr()
    assert captured.out == "element 2 line 0\nelement 2 line 1\nelement 2 line 2\n"
    assert captured.err == "to stderr\n"
    wait_for(lambda: an.status()["status"] == "SUCCEEDED", what="talk to finish")
    ip.run_line_magic("explorer_logs", "talk 0")
    assert capsys.readouterr().out.startswith("element 1 line 0\n")
    with pytest.raises(UsageError, match="No element 5"):
        ip.run_line_magic("explorer_logs", "talk 5")


def test_magics_use_the_configured_storage_and_user(ip):
    ip.run_cell_magic("explorer_job", "--name whose --local", "ac.output.x = 1")
    an = ip.user_ns["whose"]
    assert an.manifest.user == session.settings().user == "alice"
