"""``explorer cloud init``: set up an AWS account for the ``batch`` backend (thin over
:mod:`explorer_magics.compute.batch.provisioning`).

    explorer cloud init --bucket my-eos --compute-environment my-ce --image <uri>   # create what is missing
    explorer cloud init --template > explorer.json                                  # CloudFormation instead
    explorer cloud init --policy --bucket my-eos                                    # the users' IAM policy

Registered in ``explorer_magics.cli.COMMANDS`` through :func:`add_cloud_parser`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

OK = 0


def add_cloud_parser(subparsers: Any) -> None:
    """``explorer cloud ...``"""
    parser = subparsers.add_parser(
        "cloud",
        help="set up AWS (S3 bucket, Batch job queue, IAM) for compute=batch",
        description="Set up an AWS account for Explorer's batch backend.",
    )
    sub = parser.add_subparsers(dest="cloud_command", metavar="COMMAND")
    init = sub.add_parser(
        "init",
        help="create the bucket, job queue and job definition (or print a CloudFormation template)",
        description=(
            "Create what is missing — the S3 bucket, a job queue on an existing compute environment, the "
            "default job definition — and print the settings to use. With --template, print a CloudFormation "
            "template for the whole stack instead (bucket, compute environment, job queue, job role, and the "
            "IAM policy that enforces EOS's namespace rules); with --policy, print only that policy."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = init.add_mutually_exclusive_group()
    mode.add_argument("--template", action="store_true", help="print a CloudFormation template (JSON) and exit")
    mode.add_argument("--policy", action="store_true", help="print the IAM policy for Explorer users (JSON) and exit")
    init.add_argument("--bucket", help="the S3 bucket for EOS (created if missing)")
    init.add_argument("--prefix", default="explorer", help="folder inside the bucket (default: explorer)")
    init.add_argument(
        "--job-queue", default="explorer", help="the Batch job queue (created if missing; default: explorer)"
    )
    init.add_argument("--compute-environment", help="existing compute environment (name or ARN) for a new job queue")
    init.add_argument("--image", help="the job image (build it from this project's Dockerfile and push it)")
    init.add_argument("--job-role-arn", help="IAM role the containers run as (their S3 access)")
    init.add_argument("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / us-east-1)")
    init.add_argument("--endpoint-url", help="an S3/Batch-compatible endpoint (testing, e.g. moto)")
    init.add_argument(
        "--user-variable",
        choices=["username", "tag"],
        default="username",
        help="where the policy takes the user name from: the IAM user name (username) or the "
        "principal tag explorer-user (tag; for SSO and role sessions)",
    )
    init.set_defaults(func=_init)
    parser.set_defaults(func=lambda args: _help(parser))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _init(args: argparse.Namespace) -> int:
    from .compute.batch import provisioning as cloud
    from .errors import ExplorerError
    from .session import Session

    if args.template:
        print(cloud.template_json(user_variable=args.user_variable))
        return OK
    if not args.bucket:
        raise ExplorerError("--bucket is required (the S3 bucket that holds EOS and the analysis records).")
    if args.policy:
        policy = cloud.user_policy(
            bucket=args.bucket, prefix=args.prefix, user_variable=args.user_variable, job_role_arn=args.job_role_arn
        )
        print(json.dumps(policy, indent=2))
        return OK
    result = cloud.init(
        bucket=args.bucket,
        job_queue=args.job_queue,
        compute_environment=args.compute_environment,
        image=args.image,
        prefix=args.prefix,
        region=args.region,
        endpoint_url=args.endpoint_url,
        job_role_arn=args.job_role_arn,
        session=Session() if args.image else None,  # the definition's other settings: the environment's
    )
    err = sys.stderr
    print(f"bucket     {args.bucket}: {'created' if result.created_bucket else 'already there'}", file=err)
    print(f"job queue  {result.job_queue}: {'created' if result.created_job_queue else 'already there'}", file=err)
    if result.job_definition:
        print(f"job definition {result.job_definition}", file=err)
    else:
        print("job definition: registered on first use (pass --image to register it now)", file=err)
    print("\nPut this in ~/.config/explorer/config.toml:\n", file=err)
    print(result.config_toml(), end="")
    return OK
