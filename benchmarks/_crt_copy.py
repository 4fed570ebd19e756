"""boto3's transfer manager on AWS's C runtime (awscrt, ``boto3[crt]``), as one command, to measure
it beside ``d``: ``python _crt_copy.py up LOCAL BUCKET KEY | down BUCKET KEY LOCAL | up-dir DIR
BUCKET PREFIX``. Endpoint and credentials come from the environment (AWS_ENDPOINT_URL_S3, ...)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager


def main() -> None:
    op, *args = sys.argv[1:]
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
    config = TransferConfig(preferred_transfer_client="crt")
    with create_transfer_manager(client, config) as manager:
        if type(manager).__name__ != "CRTTransferManager":
            sys.exit("awscrt is not installed (pip install 'boto3[crt]'): the classic transfer manager was chosen")
        futures = []
        if op == "up":
            local, bucket, key = args
            futures.append(manager.upload(local, bucket, key))
        elif op == "down":
            bucket, key, local = args
            futures.append(manager.download(bucket, key, local))
        elif op == "up-dir":
            folder, bucket, prefix = args
            for path in sorted(Path(folder).iterdir()):
                futures.append(manager.upload(str(path), bucket, f"{prefix}/{path.name}"))
        else:
            sys.exit(f"unknown operation {op!r}")
        for future in futures:
            future.result()


if __name__ == "__main__":
    main()
