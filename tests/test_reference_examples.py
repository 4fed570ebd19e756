"""Every example of reference/running-analyses.txt that runs locally, as written (only the
import path changed: gencove_explorer -> explorer_magics). Cells with ``!`` lines go through
IPython's own transformer, as a notebook cell would."""

from __future__ import annotations

import pytest

from .helpers import notebook_namespace


def cell(source: str) -> dict:
    return notebook_namespace(source)


def test_work_function_with_imports_and_helpers_inside(capfd):
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext

        def work(ac: AnalysisContext):
            import random # import necessary package
            def print_random(): # define user function
                print(random.random())
            print_random() # execute user function

        an = Analysis(function=work)
        an.run()
        an.wait_done()
        """
    )
    assert ns["an"].status() == {"status": "SUCCEEDED"}
    capfd.readouterr()
    ns["an"].logs()
    assert 0 <= float(capfd.readouterr().out) < 1


def test_interleaving_shell_and_python(capfd):
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext

        def work(ac: AnalysisContext):
            where = "shell"
            !echo "Hello World from {where}"
            where = "Python"
            print(f"Hello World from {where}")

        an = Analysis(
            function=work,
        ).run()
        an.wait_done()
        """
    )
    capfd.readouterr()
    ns["an"].logs()
    assert capfd.readouterr().out == "Hello World from shell\nHello World from Python\n"


def test_braces_and_dollars_behave_as_the_reference_table_says(capfd):
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext

        def work(ac: AnalysisContext):
            two = "dos"
            ! echo "1 {two} 3" | awk '{{print $$2}}'  # desired behavior, prints "dos"
            ! echo "1 {two} 3" | awk '{print $2}' # incorrect, prints "{two}"
            ! echo "1 {two} 3" | awk '{print $$2}' # incorrect, prints "1 {two} 3"
            ! localcopy="-> {two} <-"; echo $$localcopy  # desired behavior, prints "-> dos <-"
            ! localcopy="-> {two} <-"; echo $localcopy # incorrect, prints "-> {two} <-"
            lines = !printf 'x\\ny\\n'
            ac.output.value(key="lines", value=list(lines))

        an = Analysis(function=work).run()
        an.wait_done()
        """
    )
    capfd.readouterr()
    ns["an"].logs()
    assert capfd.readouterr().out.splitlines() == ["dos", "{two}", "1 {two} 3", "-> dos <-", "-> {two} <-"]
    assert ns["an"].get_output().value("lines") == ["x", "y"]


def test_array_jobs_and_their_logs(capfd):
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext

        def work(ac: AnalysisContext):
            print(ac.input)

        an = Analysis(
            input=["foo", "bar", "baz"],
            function=work,
        )
        an.run()
        """
    )
    capfd.readouterr()
    ns["an"].logs(2, live=True)  # logs for the 3rd input "baz", the log index is zero-based
    assert capfd.readouterr().out == "baz\n"


def test_job_input_and_output(capfd):
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext

        def work(ac: AnalysisContext):
            path = ac.output.file("my-file").as_local()
            !echo 123 > {path} # store data in file object
            ac.output.value(key='var', value="abc") # store data in key/value object

        an = Analysis(
            function=work,
            input="a string as input",
        ).run()
        an.wait_done()

        local_path = an.get_output().file("my-file").as_local()
        !cat {local_path} # prints "123"
        var = an.get_output().value("var")
        print(var) # prints "abc"
        """
    )
    assert capfd.readouterr().out.splitlines()[-2:] == ["123", "abc"]
    assert ns["var"] == "abc"


def test_status_and_logs(capfd):
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext

        def work(ac: AnalysisContext):
            print("Hello World")

        an = Analysis(
            function=work,
        ).run()
        an.logs(live=True) # live tail of log updates
        """
    )
    assert ns["an"].status() == {"status": "SUCCEEDED"}  # when job has successfully finished
    assert capfd.readouterr().out.endswith("Hello World\n")


def test_job_manager_retrieval_and_listing(capfd):
    ns = cell(
        """
        from explorer_magics.analysis import Analysis
        from explorer_magics.job_manager import JobManager

        def example_fn(ac):
            print("hi")

        first = Analysis(function=example_fn).run()
        first.wait_done()
        mgr = JobManager()
        an = mgr.get_analysis(job_id=first.id)
        an.status()  # <-- this Analysis object can now be used as a regular analysis object
        print(mgr.list_jobs())
        print(mgr.list_jobs(since="1h")) # <-- jobs from the last hour
        print(mgr.list_jobs(since="1d")) # <-- jobs from the last day
        print(mgr.list_jobs(since="2w")) # <-- jobs from the last two weeks
        print(mgr.list_jobs(date="2023-05-09")) # <-- specific date
        print(mgr.list_jobs(date="2023-04")) # <-- from a single month
        print(mgr.list_jobs(name="example_fn")) # <-- case-insenstive search
        """
    )
    out = capfd.readouterr().out
    assert out.count(ns["first"].id) == 6  # "Analysis ID: ...", then all, 1h, 1d, 2w, name
    assert out.count("(no analyses)") == 2  # the 2023 dates
    assert ns["an"].status() == {"status": "SUCCEEDED"}


def test_waiters():
    ns = cell(
        """
        from explorer_magics.analysis import Analysis

        an = Analysis(function=lambda ac: None).run()
        an.wait_running_or_done() # blocks execution until job enters "RUNNING" state
        an.wait_done() # blocks until exection completes
        """
    )
    assert ns["an"].status() == {"status": "SUCCEEDED"}


@pytest.mark.slow
def test_custom_pip_packages():
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext

        def work(ac: AnalysisContext):
            import pendulum
            ac.output.value(key="year", value=pendulum.datetime(2023, 5, 8).year)

        an = Analysis(
            function=work,
            pip_packages=["pendulum"] # installs and makes pendulum package available to work
        ).run()
        an.wait_done(timeout=300)
        """
    )
    assert ns["an"].status() == {"status": "SUCCEEDED"}, ns["an"].status(0)
    assert ns["an"].get_output().value("year") == 2023


def test_job_resources_and_global_config():
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext, GlobalConfig, JobDefinition

        def work(ac: AnalysisContext):
            ac.output.value(key="r", value=(ac.input, ac.job_definition.cpu, ac.global_context.age_map[ac.input]))

        job_definition = JobDefinition(cpu=1, memory_mb=4000)
        global_config = GlobalConfig(
            age_map={"human": 20, "sheep":5})

        an = Analysis(
            input=["human", "sheep"],
            function=work,
            job_definition=job_definition,
            global_config=global_config,
        ).run()
        an.wait_done()
        """
    )
    assert ns["an"].get_output(1).value("r") == ("sheep", 1, 5)
    assert ns["an"].status(1)["status"] == "SUCCEEDED"


def test_job_dependencies_pass_files_by_name():
    ns = cell(
        """
        from explorer_magics.analysis import Analysis, AnalysisContext
        from explorer_magics.models import Sample

        def work1(ac: AnalysisContext):
            import json
            with open("local.json", "w") as fd:
                json.dump({"hello": "world"}, fd)
            ac.output.file(path_local="local.json", key="outfile_work1")

        def work2(ac: AnalysisContext):
            import json
            f = ac.dependency("work1").get_output().file("outfile_work1").as_local()

            with open("local.json", "w") as fd:
                json.dump(f.read_text(), fd)
            ac.output.file(path_local="local.json", key="outfile_work2")

        def work3(ac: AnalysisContext):
            import json

            with open(ac.dependency("work2").get_output().file("outfile_work2").as_local(), "r") as fd:
                ac.output.value(key="final", value=json.load(fd))

        a1 = Analysis(
            input=["Hello world!", "2"],
            function=work1,
        )
        a2 = Analysis(
            input=["Hello world!"],
            function=work2,
            depends_on=[a1]
        )
        a3 = Analysis(
            input=["Hello world!"],
            function=work3,
            depends_on=[a1, a2]
        )
        a3.run()
        a3.wait_done()
        """
    )
    assert ns["a3"].status()["status"] == "SUCCEEDED"
    assert ns["a3"].get_output().value("final") == '{"hello": "world"}'


def test_terminating_jobs():
    ns = cell(
        """
        from explorer_magics.analysis import Analysis

        def work(ac):
            import time
            time.sleep(60)

        an = Analysis(function=work, input=[1]).run()
        an.terminate()

        an2 = Analysis(function=work, input=[1,2,3]).run()
        an2.terminate(2)  # <-- only array index 2 will be terminated

        an3 = Analysis(function=work, input=[1,2,3]).run()
        an3.terminate_all()  # <-- all 3 array jobs will be terminated
        """
    )
    assert ns["an"].wait_done(timeout=30)["status"] == "FAILED"
    assert {k: ns["an2"].status(2).get(k) for k in ("status", "reason")} == {
        "status": "FAILED",
        "reason": "terminated by user",
    }
    ns["an2"].terminate_all()
    assert ns["an3"].wait_done(timeout=30)["summary"] == {"FAILED": 3}


def test_anonymous_work_function_with_lambda(capfd):
    ns = cell(
        """
        from explorer_magics.analysis import Analysis

        an = Analysis(
            function=lambda x: print("Hello World")
        ).run()
        an.wait_done()
        """
    )
    capfd.readouterr()
    ns["an"].logs()
    assert capfd.readouterr().out == "Hello World\n"
