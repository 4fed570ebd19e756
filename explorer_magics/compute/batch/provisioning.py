"""Setting up an AWS account for Explorer (``explorer cloud init``).

Two ways, both from this module:

* :func:`init` creates what is missing with boto3 — the S3 bucket, a job queue on an existing
  compute environment (a reference: compute environments need VPC subnets and instance roles
  that a site chooses), and the default job definition — and returns the settings to use;
* :func:`template` returns a CloudFormation template for the whole stack (bucket, compute
  environment, job queue, the containers' job role, and the managed IAM policy users get),
  for sites that keep infrastructure as code.

:func:`user_policy` is the IAM policy that enforces EOS's namespace rules in S3 itself, the
same rule as :func:`explorer_magics.eos.check_access`: a user reads and writes
``users/<own name>/``, reads other users' namespaces and ``public/``, reads and writes
``org/``. The user's name is an IAM policy variable: ``${aws:username}`` for IAM users, or a
principal tag (``${aws:PrincipalTag/explorer-user}``) for SSO / role sessions; it must equal
the Explorer user name (``EXPLORER_USER``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from ... import aws
from ...errors import BackendError, ExplorerError
from .backend import USER_TAG

if TYPE_CHECKING:
    from ...config import Settings
    from ...session import Session

#: the policy variables a user name can come from
USER_VARIABLES = {
    "username": "aws:username",
    "tag": "aws:PrincipalTag/explorer-user",
}
DEFAULT_PREFIX = "explorer"


def _prefix(prefix: str) -> str:
    prefix = (prefix or "").strip("/")
    return prefix + "/" if prefix else ""


def _variable(user_variable: str) -> str:
    var = USER_VARIABLES.get(user_variable, user_variable)
    if var not in USER_VARIABLES.values():
        raise ExplorerError(f"user_variable must be one of {', '.join(USER_VARIABLES)}, not {user_variable!r}.")
    return "${" + var + "}"


def _objects(bucket_arn: Any, prefix: str, path: str) -> Any:
    """The ARN of objects ``<prefix><path>`` in the bucket (a CloudFormation join if the bucket
    ARN is an expression)."""
    if isinstance(bucket_arn, str):
        return f"{bucket_arn}/{prefix}{path}"
    return {"Fn::Join": ["", [bucket_arn, f"/{prefix}{path}"]]}


def s3_statements(bucket_arn: Any, prefix: str, user_variable: str = "username") -> list[dict[str, Any]]:
    """The S3 part of :func:`user_policy`. ``bucket_arn`` may be a CloudFormation expression."""
    p = _prefix(prefix)
    me = _variable(user_variable)

    def objects(path: str) -> Any:
        return _objects(bucket_arn, p, path)

    return [
        {
            "Sid": "EosList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [p, f"{p}users/*", f"{p}org/*", f"{p}public/*"]}},
        },
        {
            "Sid": "EosReadEveryNamespace",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [objects("users/*"), objects("org/*"), objects("public/*")],
        },
        {
            "Sid": "EosWriteOwnAndOrg",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "Resource": [objects(f"users/{me}/*"), objects("org/*")],
        },
    ]


def user_policy(
    *,
    bucket: str,
    prefix: str = DEFAULT_PREFIX,
    user_variable: str = "username",
    job_queue_arn: str = "arn:aws:batch:*:*:job-queue/*",
    job_role_arn: str | None = None,
) -> dict[str, Any]:
    """The IAM policy for Explorer users: EOS in S3 (namespace rules enforced by S3 itself),
    submitting and watching Batch jobs, terminating only their own, reading job logs."""
    me = _variable(user_variable)
    statements = s3_statements(f"arn:aws:s3:::{bucket}", prefix, user_variable) + batch_statements(
        job_queue_arn=job_queue_arn, job_role_arn=job_role_arn, me=me
    )
    return {"Version": "2012-10-17", "Statement": statements}


def batch_statements(*, job_queue_arn: Any, job_role_arn: Any, me: str) -> list[dict[str, Any]]:
    """Batch, Logs and PassRole statements of :func:`user_policy`."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "BatchSubmit",
            "Effect": "Allow",
            "Action": ["batch:SubmitJob", "batch:TagResource"],
            "Resource": [job_queue_arn, "arn:aws:batch:*:*:job-definition/explorer-*", "arn:aws:batch:*:*:job/*"],
        },
        {
            "Sid": "BatchRegisterExplorerDefinitions",
            "Effect": "Allow",
            "Action": ["batch:RegisterJobDefinition", "batch:TagResource"],
            "Resource": ["arn:aws:batch:*:*:job-definition/explorer-*"],
        },
        {
            "Sid": "BatchRead",
            "Effect": "Allow",
            "Action": [
                "batch:DescribeJobs",
                "batch:ListJobs",
                "batch:DescribeJobDefinitions",
                "batch:DescribeJobQueues",
            ],
            "Resource": ["*"],
        },
        {
            "Sid": "BatchTerminateOwnJobs",
            "Effect": "Allow",
            "Action": ["batch:TerminateJob", "batch:CancelJob"],
            "Resource": ["arn:aws:batch:*:*:job/*"],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{USER_TAG}": me}},
        },
        {
            "Sid": "ReadJobLogs",
            "Effect": "Allow",
            "Action": ["logs:GetLogEvents"],
            "Resource": ["arn:aws:logs:*:*:log-group:/aws/batch/job:log-stream:*"],
        },
    ]
    if job_role_arn is not None:
        statements.append(
            {"Sid": "PassTheJobRole", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": [job_role_arn]}
        )
    return statements


def job_role_statements(bucket_arn: Any, prefix: str) -> list[dict[str, Any]]:
    """What the containers may do: read every namespace, write analysis records, users' files
    and ``org/`` (a container writes for whichever user submitted it), never ``public/``; and
    describe Batch jobs (``ac.dependency(name).get_output(i)`` checks the element succeeded)."""
    p = _prefix(prefix)

    def objects(path: str) -> Any:
        return _objects(bucket_arn, p, path)

    return [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
        # an element that reads a dependency's outputs asks Batch for that element's status
        {"Effect": "Allow", "Action": ["batch:DescribeJobs"], "Resource": ["*"]},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [objects("users/*"), objects("org/*"), objects("public/*")],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "Resource": [objects("users/*"), objects("org/*")],
        },
    ]


def template(*, user_variable: str = "username") -> dict[str, Any]:
    """A CloudFormation template (JSON-able) for everything Explorer needs in an account."""
    me = _variable(user_variable)
    bucket_arn = {"Fn::GetAtt": ["Bucket", "Arn"]}
    prefix_ref = "explorer"  # the S3 prefix inside the bucket (storage = s3://<bucket>/explorer)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Explorer for JupyterLab: EOS bucket, AWS Batch compute environment and job queue, IAM.",
        "Parameters": {
            "BucketName": {"Type": "String", "Description": "Name of the new EOS bucket (globally unique)."},
            "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>", "Description": "Subnets the Batch instances run in."},
            "SecurityGroups": {
                "Type": "List<AWS::EC2::SecurityGroup::Id>",
                "Description": "Security groups of the Batch instances (outbound HTTPS to S3, ECR, CloudWatch).",
            },
            "MaxVcpus": {"Type": "Number", "Default": 256, "Description": "Most vCPUs the cluster may use at once."},
            "ProvisioningModel": {"Type": "String", "Default": "SPOT", "AllowedValues": ["SPOT", "EC2"]},
        },
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": {"Ref": "BucketName"},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "LifecycleConfiguration": {
                        "Rules": [
                            {
                                "Id": "abort-stale-uploads",
                                "Status": "Enabled",
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                            }
                        ]
                    },
                },
            },
            "JobRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": _assume("ecs-tasks.amazonaws.com"),
                    "Policies": [
                        {
                            "PolicyName": "explorer-eos",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": job_role_statements(bucket_arn, prefix_ref),
                            },
                        }
                    ],
                },
            },
            "InstanceRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": _assume("ec2.amazonaws.com"),
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"],
                },
            },
            "BatchServiceRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": _assume("batch.amazonaws.com"),
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole"],
                },
            },
            "InstanceProfile": {
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": {"Roles": [{"Ref": "InstanceRole"}]},
            },
            "ComputeEnvironment": {
                "Type": "AWS::Batch::ComputeEnvironment",
                "Properties": {
                    "Type": "MANAGED",
                    "State": "ENABLED",
                    "ServiceRole": {"Fn::GetAtt": ["BatchServiceRole", "Arn"]},
                    "ComputeResources": {
                        "Type": {"Ref": "ProvisioningModel"},
                        "AllocationStrategy": "BEST_FIT_PROGRESSIVE",
                        "MinvCpus": 0,
                        "MaxvCpus": {"Ref": "MaxVcpus"},
                        "InstanceTypes": ["optimal"],
                        "Subnets": {"Ref": "Subnets"},
                        "SecurityGroupIds": {"Ref": "SecurityGroups"},
                        "InstanceRole": {"Fn::GetAtt": ["InstanceProfile", "Arn"]},
                    },
                },
            },
            "JobQueue": {
                "Type": "AWS::Batch::JobQueue",
                "Properties": {
                    "JobQueueName": "explorer",
                    "Priority": 1,
                    "State": "ENABLED",
                    "ComputeEnvironmentOrder": [{"Order": 1, "ComputeEnvironment": {"Ref": "ComputeEnvironment"}}],
                },
            },
            "UserPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Description": "Explorer users: EOS namespace rules in S3, Batch jobs, job logs. "
                    "Attach to users or groups.",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": s3_statements(bucket_arn, prefix_ref, user_variable)
                        + batch_statements(
                            job_queue_arn={"Ref": "JobQueue"}, job_role_arn={"Fn::GetAtt": ["JobRole", "Arn"]}, me=me
                        ),
                    },
                },
            },
        },
        "Outputs": {
            "Storage": {"Value": {"Fn::Join": ["", ["s3://", {"Ref": "Bucket"}, "/", prefix_ref]]}},
            "JobQueue": {"Value": {"Ref": "JobQueue"}},
            "JobRoleArn": {"Value": {"Fn::GetAtt": ["JobRole", "Arn"]}},
            "UserPolicyArn": {"Value": {"Ref": "UserPolicy"}},
        },
    }


def _assume(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
    }


@dataclasses.dataclass(frozen=True)
class InitResult:
    """What :func:`init` found or created, and the settings that use it."""

    storage: str
    job_queue: str
    job_definition: str | None
    created_bucket: bool
    created_job_queue: bool
    region: str
    endpoint_url: str | None = None
    image: str | None = None
    job_role_arn: str | None = None

    def config_toml(self) -> str:
        """The lines to put in ``~/.config/explorer/config.toml``."""
        lines = [f'storage = "{self.storage}"', 'compute = "batch"', "", "[s3]"]
        if self.endpoint_url:
            lines.append(f'endpoint_url = "{self.endpoint_url}"')
        lines.append(f'region = "{self.region}"')
        lines += ["", "[batch]", f'job_queue = "{self.job_queue}"']
        if self.image:
            lines.append(f'image = "{self.image}"')
        if self.job_role_arn:
            lines.append(f'job_role_arn = "{self.job_role_arn}"')
        return "\n".join(lines) + "\n"


def _client_error(exc: Exception, doing: str) -> BackendError:
    code = aws.error_code(exc) or type(exc).__name__
    return BackendError(f"AWS refused {doing} ({code}: {exc}); check the credentials' permissions and the names given.")


def init(
    *,
    bucket: str,
    job_queue: str = "explorer",
    compute_environment: str | None = None,
    image: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    region: str | None = None,
    endpoint_url: str | None = None,
    job_role_arn: str | None = None,
    session: Session | None = None,
) -> InitResult:
    """Create what is missing: the bucket, the job queue (on ``compute_environment``, an
    existing one: name or ARN), and, given an ``image``, the default job definition (run as
    ``job_role_arn``, the role that gives containers their S3 access; the rest of its settings
    are ``session``'s, default the process's).

    Everything already there is left as it is, so running it again is harmless.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    region = region or aws.region_for()
    s3 = aws.client("s3", endpoint_url=endpoint_url, region=region)  # (None: the configured endpoint)
    batch = aws.client("batch", endpoint_url=endpoint_url, region=region)
    created_bucket = False
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if aws.error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise _client_error(exc, f"looking at bucket {bucket}") from exc
        params: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            s3.create_bucket(**params)
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        except (ClientError, BotoCoreError) as exc2:
            raise _client_error(exc2, f"creating bucket {bucket}") from exc2
        created_bucket = True
    except BotoCoreError as exc:
        raise _client_error(exc, f"looking at bucket {bucket}") from exc

    created_queue = False
    try:
        queues = batch.describe_job_queues(jobQueues=[job_queue]).get("jobQueues", [])
        if not queues:
            if not compute_environment:
                raise ExplorerError(
                    f"There is no job queue {job_queue!r}; pass --compute-environment NAME to create it on an "
                    "existing compute environment, or deploy the template (`explorer cloud init --template`)."
                )
            batch.create_job_queue(
                jobQueueName=job_queue,
                state="ENABLED",
                priority=1,
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": compute_environment}],
            )
            created_queue = True
    except (ClientError, BotoCoreError) as exc:
        raise _client_error(exc, f"setting up job queue {job_queue}") from exc

    storage = f"s3://{bucket}/{_prefix(prefix)}".rstrip("/")
    definition = None
    if image:
        from ...session import or_default

        definition = _register_default_definition(
            or_default(session).settings,
            storage,
            image,
            region=region,
            endpoint_url=endpoint_url,
            batch=batch,
            job_role_arn=job_role_arn,
        )
    return InitResult(
        storage=storage,
        job_queue=job_queue,
        job_definition=definition,
        created_bucket=created_bucket,
        created_job_queue=created_queue,
        region=region,
        endpoint_url=endpoint_url,
        image=image,
        job_role_arn=job_role_arn,
    )


def _register_default_definition(
    current: Settings,
    storage: str,
    image: str,
    *,
    region: str,
    endpoint_url: str | None,
    batch: Any,
    job_role_arn: str | None,
) -> str:
    """The job definition analyses with the default JobDefinition() use (the SDK finds it)."""
    from ...definitions import JobDefinition
    from ...storage.s3 import S3Storage
    from .backend import BatchCompute, BatchSettings

    settings = (
        dataclasses.replace(current, storage=storage, compute="batch")
        .with_values("s3", endpoint_url=endpoint_url, region=region)
        .with_values("batch", job_role_arn=job_role_arn or current.of(BatchSettings).job_role_arn)
    )
    compute = BatchCompute(settings, S3Storage(storage, endpoint_url=endpoint_url, region=region), batch_client=batch)
    return compute.job_definition("job", compute.container_properties(JobDefinition().to_dict(), image))


def template_json(*, user_variable: str = "username") -> str:
    return json.dumps(template(user_variable=user_variable), indent=2)
