"""The ``batch`` backend end to end, against moto's server mode (S3, Batch, CloudWatch Logs).

moto's Batch (with ``use_docker: false``) takes jobs and reports them finished at once; it runs
no container. The container's part is played by :class:`PlayedBatch`: for each job it reads
what AWS Batch would hand the container (the job definition's command with ``Ref::``
parameters filled in, its environment, ``AWS_BATCH_JOB_ID`` / ``AWS_BATCH_JOB_ARRAY_INDEX``),
runs exactly that command in a fresh process against the moto S3, and ships the process's
output to CloudWatch Logs as the ``awslogs`` driver does. So the round trip — submit, run
element i, read outputs and logs — goes through real AWS APIs with nothing of ours faked.

What moto cannot show (RUNNING, partial failure, retries, 429s) is in test_batch_recorded.py.
The moto server, the played agent and the ``played`` fixture are in tests/batch_played.py
(shared with the compute contract suite, tests/contract/).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from explorer_magics import aws, session
from explorer_magics.analysis import Analysis, JobDefinition
from explorer_magics.compute.batch import backend as batch_mod
from explorer_magics.errors import InvalidAnalysis

from .batch_played import IMAGE, PlayedBatch

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.aws


def _sent(operation: str):
    """Record the parameters of every ``operation`` call the Batch client makes."""
    client = aws.client("batch", settings=session.settings())
    calls: list[dict] = []

    def record(params, **_):
        calls.append(json.loads(json.dumps(params, default=str)))

    client.meta.events.register(f"provide-client-params.batch.{operation}", record)
    return calls, lambda: client.meta.events.unregister(f"provide-client-params.batch.{operation}", record)


# -- the same end-to-end behaviour as the local cluster ---------------------------------------
def test_a_single_input_is_a_plain_job_and_runs_as_element_0(played):
    an = Analysis(function=lambda ac: ac.output.value(key="got", value=(ac.input, ac.job_index)), input={"a": 1}).run()
    job = played.batch.describe_jobs(jobs=[an.manifest.backend["job_id"]])["jobs"][0]
    assert "arrayProperties" not in job and an.manifest.backend["array"] is False
    assert played.run(an) == {0: 0}
    assert an.status() == {"status": "SUCCEEDED"}
    assert an.get_output().value("got") == ({"a": 1}, None)


def test_a_one_element_list_is_a_plain_job_too(played):
    an = Analysis(function=lambda ac: ac.output.value(key="i", value=ac.job_index), input=["only"]).run()
    assert an.manifest.backend["array"] is False  # Batch arrays have 2..10,000 children
    played.run(an)
    assert an.status() == {"status": "SUCCEEDED", "size": 1, "summary": {"SUCCEEDED": 1}}
    assert an.get_output(0).value("i") == 0


def test_dependencies_become_depends_on_and_dependents_read_their_outputs(played):
    def work1(ac):
        ac.output.value(key="word", value=ac.input.upper())

    def work2(ac):
        ac.output.value(key="word", value="and")

    def work3(ac):
        first = [ac.dependency("work1").get_output(i).value("word") for i in range(2)]
        ac.output.value(
            key="sentence", value=" ".join([first[0], ac.dependency("work2").get_output().value("word"), first[1]])
        )

    a1 = Analysis(function=work1, input=["salt", "pepper"])
    a2 = Analysis(function=work2, input=None)
    a3 = Analysis(function=work3, input=None, depends_on=[a1, a2]).run()
    job = played.batch.describe_jobs(jobs=[a3.manifest.backend["job_id"]])["jobs"][0]
    assert sorted(d["jobId"] for d in job["dependsOn"]) == sorted(
        [a1.manifest.backend["job_id"], a2.manifest.backend["job_id"]]
    )
    assert all("type" not in d for d in job["dependsOn"])  # the whole dependency, as on the local cluster
    for an in (a1, a2, a3):  # Batch starts a dependent only when its dependencies succeeded
        assert set(played.run(an).values()) == {0}
    assert a3.get_output().value("sentence") == "SALT and PEPPER"


def test_equal_arrays_may_depend_element_by_element(played, monkeypatch):
    monkeypatch.setenv("EXPLORER_BATCH_N_TO_N", "1")
    up = Analysis(function=lambda ac: ac.output.value(key="v", value=ac.input), input=[1, 2, 3], name="up")
    down = Analysis(function=lambda ac: None, input=[4, 5, 6], depends_on=[up], name="down").run()
    other = Analysis(function=lambda ac: None, input=[7, 8], depends_on=[up], name="other").run()
    jobs = played.batch.describe_jobs(jobs=[down.manifest.backend["job_id"], other.manifest.backend["job_id"]])["jobs"]
    by_id = {j["jobId"]: j for j in jobs}
    assert by_id[down.manifest.backend["job_id"]]["dependsOn"] == [
        {"jobId": up.manifest.backend["job_id"], "type": "N_TO_N"}
    ]
    assert by_id[other.manifest.backend["job_id"]]["dependsOn"] == [{"jobId": up.manifest.backend["job_id"]}]


def test_more_than_20_dependencies_wait_through_barrier_jobs(played):
    deps = [Analysis(function=lambda ac: None, input=None, name=f"d{i}") for i in range(25)]
    top = Analysis(function=lambda ac: None, input=None, depends_on=deps).run()
    barriers = top.manifest.backend["barrier_jobs"]
    assert len(barriers) == 2  # 20 + 5
    job = played.batch.describe_jobs(jobs=[top.manifest.backend["job_id"]])["jobs"][0]
    assert sorted(d["jobId"] for d in job["dependsOn"]) == sorted(barriers)
    waited = set()
    for barrier in played.batch.describe_jobs(jobs=barriers)["jobs"]:
        assert 1 <= len(barrier["dependsOn"]) <= batch_mod.MAX_DEPENDS_ON
        waited |= {d["jobId"] for d in barrier["dependsOn"]}
    assert waited == {d.manifest.backend["job_id"] for d in deps}


def test_logs_come_from_cloudwatch_and_a_live_follow_reads_only_what_is_new(played, capsys):
    def work(ac):

        print("hello from", ac.input)
        print("to stderr", file=sys.stderr)

    an = Analysis(function=work, input=["a", "b"]).run()
    played.run(an)
    capsys.readouterr()
    an.logs(1)
    out = capsys.readouterr()
    assert "hello from b" in out.out and "to stderr" in out.out  # CloudWatch merges the streams
    assert out.err == ""

    compute = session.compute()
    first = compute.read_log(an.manifest, 1, "stdout", 0)
    assert first.data.decode() == out.out and first.next_offset == len(first.data)
    assert compute.read_log(an.manifest, 1, "stderr", 0).data == b""
    # more lines arrive (a live element): the next read from next_offset returns only them,
    # continuing from CloudWatch's forward token instead of reading the stream again
    stream = played.batch.describe_jobs(jobs=[f"{an.manifest.backend['job_id']}:1"])["jobs"][0]["container"][
        "logStreamName"
    ]
    played.put_lines(stream, ["later line"])
    aws.reset_call_counts()
    more = compute.read_log(an.manifest, 1, "stdout", first.next_offset)
    assert more.data == b"later line\n" and more.next_offset == first.next_offset + len(more.data)
    assert aws.call_counts()["logs.GetLogEvents"] <= 2 and not aws.call_counts()["batch.DescribeJobs"]
    # an offset in the middle of the log (no cursor for it): read from the start, cut there
    middle = compute.read_log(an.manifest, 1, "stdout", 6)
    assert middle.data == (first.data + more.data)[6:]


def test_terminate_maps_to_terminate_job_on_the_element_or_the_whole_array(played):
    an = Analysis(function=lambda ac: None, input=[1, 2, 3]).run()
    parent = an.manifest.backend["job_id"]
    # the backend's call itself: moto's Batch reports every child SUCCEEDED at once, so the SDK's
    # an.terminate(1) would (rightly) answer that element 1 had already finished
    session.compute("batch").terminate(an.manifest, 1)
    jobs = {j["jobId"]: j for j in played.batch.describe_jobs(jobs=[parent, f"{parent}:0", f"{parent}:1"])["jobs"]}
    assert jobs[f"{parent}:1"].get("statusReason") == "terminated by user"
    assert "statusReason" not in jobs[f"{parent}:0"] and "statusReason" not in jobs[parent]
    an.terminate_all()
    assert played.batch.describe_jobs(jobs=[parent])["jobs"][0]["statusReason"] == "terminated by user"


def test_pip_packages_are_installed_when_the_container_starts(played):
    pytest.importorskip("pip")

    def work(ac):
        import humanize

        ac.output.value(key="size", value=humanize.naturalsize(3_000_000))

    an = Analysis(function=work, input=[1, 2], pip_packages=["humanize==4.9.0"]).run()
    assert played.run(an) == {0: 0, 1: 0}, an.status(0)
    assert an.get_output(1).value("size") == "3.0 MB"


def test_a_failing_job_fails_with_the_runners_reason_and_its_traceback_in_the_log(played, monkeypatch, capsys):
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # moto's Batch: the job's container exits 1

    def work(ac):
        raise ValueError("boom")

    an = Analysis(function=work, input=None).run()
    assert played.run(an) == {0: 1}
    assert an.wait_done(timeout=30) == {"status": "FAILED"}
    assert {k: an.status(0).get(k) for k in ("status", "reason")} == {"status": "FAILED", "reason": "ValueError: boom"}
    capsys.readouterr()
    an.logs()
    assert "ValueError: boom" in capsys.readouterr().out


def test_the_container_runs_exactly_the_runner_with_nothing_bulky_in_the_job(played):
    calls, stop = _sent("SubmitJob")
    big = ["x" * 10_000] * 50  # 500 kB of input: it goes to S3, never into the job
    an = Analysis(function=lambda ac: None, input=big, job_definition=JobDefinition(cpu=4, memory_mb=8000)).run()
    stop()
    assert len(calls) == 1
    sent = calls[0]
    assert len(json.dumps(sent)) < 2_000  # SubmitJob's limit is 30 KiB
    assert sent["parameters"] == {"analysis": an.id, "user": "alice"}
    assert sent["arrayProperties"] == {"size": 50}
    definition = played.batch.describe_job_definitions(jobDefinitions=[sent["jobDefinition"]])["jobDefinitions"][0]
    props = definition["containerProperties"]
    assert props["command"] == [
        "python",
        "-m",
        "explorer_magics.runner",
        "--analysis",
        "Ref::analysis",
        "--user",
        "Ref::user",
    ]
    assert props["image"] == IMAGE
    assert {r["type"]: r["value"] for r in props["resourceRequirements"]} == {"VCPU": "4", "MEMORY": "8000"}
    env = {e["name"]: e["value"] for e in props["environment"]}
    assert env["EXPLORER_STORAGE"] == session.storage().url
    assert not any("SECRET" in k or "TOKEN" in k or k == "AWS_ACCESS_KEY_ID" for k in env)


def test_job_definitions_are_registered_once_per_image_and_resources_and_reused(played):
    aws.reset_call_counts()
    calls, stop = _sent("SubmitJob")
    small = JobDefinition(cpu=1, memory_mb=1000, timeout_seconds=90, retries=2)
    for _ in range(3):
        Analysis(function=lambda ac: None, input=[1, 2], job_definition=small).run()
    Analysis(function=lambda ac: None, input=[1, 2], job_definition=JobDefinition(cpu=1, memory_mb=1000, gpu=1)).run()
    Analysis(function=lambda ac: None, input=[1, 2], job_definition=JobDefinition(image="other:1")).run()
    stop()
    counts = aws.call_counts()
    assert counts["batch.RegisterJobDefinition"] == 3 and counts["batch.SubmitJob"] == 5
    assert len({c["jobDefinition"] for c in calls}) == 3
    assert calls[0]["timeout"] == {"attemptDurationSeconds": 90}
    assert calls[0]["retryStrategy"] == {  # retries=2 of a lost host (Batch's part of retry_on)
        "attempts": 3,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    # a new process finds the definitions already registered
    batch_mod.BatchCompute._definitions.clear()
    aws.reset_call_counts()
    Analysis(function=lambda ac: None, input=[1, 2], job_definition=small).run()
    assert aws.call_counts()["batch.RegisterJobDefinition"] == 0
    gpu = played.batch.describe_job_definitions(jobDefinitions=[calls[3]["jobDefinition"]])["jobDefinitions"][0]
    assert {"type": "GPU", "value": "1"} in gpu["containerProperties"]["resourceRequirements"]


def test_status_is_one_describe_jobs_and_nothing_once_finished(played):
    an = Analysis(function=lambda ac: None, input=list(range(20))).run()
    played.run(an, indices=[0])
    session.reset()  # a fresh process looks
    an = __import__("explorer_magics.job_manager", fromlist=["JobManager"]).JobManager().get_analysis(an.id)
    aws.reset_call_counts()
    assert an.status()["status"] == "SUCCEEDED"
    # one DescribeJobs; and, the first time it is seen finished, the final summary is kept
    # in S3 for when Batch has forgotten the job (it keeps finished jobs for days, not forever)
    assert dict(aws.call_counts()) == {"batch.DescribeJobs": 1, "s3.PutObject": 1}
    aws.reset_call_counts()
    for _ in range(5):
        an.status()
    assert sum(aws.call_counts().values()) == 0


def test_element_pages_list_failed_first_and_describe_in_batches_of_100(played):
    an = Analysis(function=lambda ac: None, input=list(range(250))).run()
    aws.reset_call_counts()
    page = an.elements(offset=120, limit=100)
    assert [e.index for e in page] == list(range(120, 220))
    counts = aws.call_counts()
    assert counts["batch.DescribeJobs"] == 2  # the parent, then one batch of 100 children
    assert not counts["batch.ListJobs"]  # nothing FAILED: no listing needed
    assert an.elements(status="RUNNING") == []


def test_submission_without_s3_storage_queue_or_image_is_refused_with_what_to_set(played, monkeypatch):
    aws.reset_call_counts()
    monkeypatch.delenv("EXPLORER_BATCH_IMAGE")
    session.reset()
    with pytest.raises(InvalidAnalysis, match="EXPLORER_BATCH_IMAGE"):
        Analysis(function=lambda ac: None, input=[1, 2]).run()
    monkeypatch.setenv("EXPLORER_BATCH_IMAGE", IMAGE)
    monkeypatch.delenv("EXPLORER_BATCH_JOB_QUEUE")
    session.reset()
    with pytest.raises(InvalidAnalysis, match="EXPLORER_BATCH_JOB_QUEUE"):
        Analysis(function=lambda ac: None, input=[1, 2]).run()
    monkeypatch.setenv("EXPLORER_BATCH_JOB_QUEUE", "q")
    monkeypatch.setenv("EXPLORER_STORAGE", "local")
    session.reset()
    refused = Analysis(function=lambda ac: None, input=[1, 2])
    with pytest.raises(InvalidAnalysis, match="s3://"):
        refused.run()
    assert not aws.call_counts()["batch.SubmitJob"]
    # refused before anything was written: no record at all
    from explorer_magics.job_manager import JobManager

    assert JobManager().list_jobs() == []


# -- explorer cloud init ----------------------------------------------------------------------
def test_cloud_init_creates_what_is_missing_once_and_prints_the_settings(batch_moto, monkeypatch, capsys):
    import argparse

    import boto3

    from explorer_magics.cli_cloud import add_cloud_parser

    endpoint = batch_moto["endpoint"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("EXPLORER_AWS_ENDPOINT_URL", endpoint)
    parser = argparse.ArgumentParser(prog="explorer")
    add_cloud_parser(parser.add_subparsers(dest="command"))
    bucket, queue = f"eos-{uuid.uuid4().hex[:10]}", f"q-{uuid.uuid4().hex[:8]}"
    argv = [
        "cloud",
        "init",
        "--bucket",
        bucket,
        "--job-queue",
        queue,
        "--compute-environment",
        batch_moto["compute_environment"],
        "--image",
        IMAGE,
        "--endpoint-url",
        endpoint,
        "--region",
        "us-east-1",
    ]
    batch_mod.BatchCompute._definitions.clear()
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    first = capsys.readouterr()
    assert f"bucket     {bucket}: created" in first.err and f"job queue  {queue}: created" in first.err
    assert f'storage = "s3://{bucket}/explorer"' in first.out and f'job_queue = "{queue}"' in first.out
    batch = boto3.client("batch", endpoint_url=endpoint, region_name="us-east-1")
    queues = batch.describe_job_queues(jobQueues=[queue])["jobQueues"]
    assert queues[0]["computeEnvironmentOrder"][0]["computeEnvironment"].endswith(batch_moto["compute_environment"])
    # again, from a new process: everything is found, nothing is made twice
    batch_mod.BatchCompute._definitions.clear()
    aws.reset_call_counts()
    assert args.func(args) == 0
    again = capsys.readouterr()
    assert "already there" in again.err and again.out == first.out
    assert not aws.call_counts()["batch.RegisterJobDefinition"] and not aws.call_counts()["s3.CreateBucket"]


def test_cloud_init_prints_a_cloudformation_template_with_the_eos_policy(capsys):
    import argparse

    from explorer_magics.cli_cloud import add_cloud_parser

    parser = argparse.ArgumentParser(prog="explorer")
    add_cloud_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["cloud", "init", "--template", "--user-variable", "tag"])
    assert args.func(args) == 0
    template = json.loads(capsys.readouterr().out)
    resources = template["Resources"]
    assert {r["Type"] for r in resources.values()} >= {
        "AWS::S3::Bucket",
        "AWS::Batch::ComputeEnvironment",
        "AWS::Batch::JobQueue",
        "AWS::IAM::Role",
        "AWS::IAM::ManagedPolicy",
    }
    statements = resources["UserPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    write = next(s for s in statements if s["Sid"] == "EosWriteOwnAndOrg")
    assert {
        "Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/explorer/users/${aws:PrincipalTag/explorer-user}/*"]]
    } in write["Resource"]


def _allowed(policy: dict, action: str, arn: str, username: str) -> bool:
    """IAM's Allow evaluation for these plain statements: action and resource wildcards, the
    ${aws:username} variable (no Deny statements, no conditions on object actions)."""
    import fnmatch

    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or action not in statement["Action"]:
            continue
        for pattern in statement["Resource"]:
            if fnmatch.fnmatchcase(arn, pattern.replace("${aws:username}", username)):
                return True
    return False


@pytest.mark.parametrize("prefix", ["explorer", ""])
def test_the_iam_policy_enforces_the_same_namespace_rule_as_the_sdk(prefix):
    from explorer_magics import eos
    from explorer_magics.compute.batch import provisioning as cloud
    from explorer_magics.errors import AccessDenied

    policy = cloud.user_policy(bucket="eos-bucket", prefix=prefix)
    keys = [
        "users/alice/files/a.txt",
        "users/alice/analyses/2023-05-08T000000_x_0/manifest.json",
        "users/alice/tmp/u1",
        "users/bob/files/a.txt",
        "users/bob/analyses/2023-05-08T000000_x_0/tasks/0/status.json",
        "users/alice2/files/a.txt",
        "org/files/shared/ref.fa",
        "public/files/genome/hg38.fa",
    ]
    for key in keys:
        for write in (False, True):
            try:
                eos.check_access("alice", key, write=write)
                sdk = True
            except AccessDenied:
                sdk = False
            arn = f"arn:aws:s3:::eos-bucket/{prefix + '/' if prefix else ''}{key}"
            actions = ["s3:PutObject", "s3:DeleteObject"] if write else ["s3:GetObject"]
            for action in actions:
                assert _allowed(policy, action, arn, "alice") is sdk, (key, action)
    listing = next(s for s in policy["Statement"] if s["Sid"] == "EosList")
    assert f"{prefix + '/' if prefix else ''}users/*" in listing["Condition"]["StringLike"]["s3:prefix"]


def test_the_cloudformation_stack_deploys_and_runs_an_analysis(batch_moto, monkeypatch):
    """The template on moto's CloudFormation: the stack comes up, its outputs are the settings,
    and an analysis runs on it."""
    import boto3

    from explorer_magics.compute.batch import provisioning as cloud

    endpoint = batch_moto["endpoint"]
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"g-{uuid.uuid4().hex[:6]}", Description="batch", VpcId=vpc)["GroupId"]
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
    stack, bucket = f"explorer-{uuid.uuid4().hex[:6]}", f"eos-{uuid.uuid4().hex[:10]}"
    cfn.create_stack(
        StackName=stack,
        TemplateBody=cloud.template_json(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "BucketName", "ParameterValue": bucket},
            {"ParameterKey": "Subnets", "ParameterValue": subnet},
            {"ParameterKey": "SecurityGroups", "ParameterValue": group},
        ],
    )
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert outputs["Storage"] == f"s3://{bucket}/explorer"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    version = iam.get_policy(PolicyArn=outputs["UserPolicyArn"])["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=outputs["UserPolicyArn"], VersionId=version)["PolicyVersion"][
        "Document"
    ]
    if isinstance(document, str):
        document = json.loads(__import__("urllib.parse").parse.unquote(document))
    resources = [r for s in document["Statement"] if s.get("Sid") == "EosWriteOwnAndOrg" for r in s["Resource"]]
    assert f"arn:aws:s3:::{bucket}/explorer/users/${{aws:username}}/*" in resources

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("EXPLORER_AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("EXPLORER_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("EXPLORER_STORAGE", outputs["Storage"])
    monkeypatch.setenv("EXPLORER_COMPUTE", "batch")
    monkeypatch.setenv("EXPLORER_BATCH_JOB_QUEUE", outputs["JobQueue"])
    monkeypatch.setenv("EXPLORER_BATCH_IMAGE", IMAGE)
    monkeypatch.setenv("EXPLORER_BATCH_JOB_ROLE_ARN", outputs["JobRoleArn"])
    session.reset()
    an = Analysis(function=lambda ac: ac.output.value(key="v", value=ac.input + 1), input=[1, 2]).run()
    played = PlayedBatch(endpoint, Path(session.settings().home) / "container")
    assert played.run(an) == {0: 0, 1: 0}
    assert [an.get_output(i).value("v") for i in range(2)] == [2, 3]
    definition = played.batch.describe_jobs(jobs=[an.manifest.backend["job_id"]])["jobs"][0]["jobDefinition"]
    props = played.batch.describe_job_definitions(jobDefinitions=[definition])["jobDefinitions"][0][
        "containerProperties"
    ]
    assert props["jobRoleArn"] == outputs["JobRoleArn"]
    session.reset()
