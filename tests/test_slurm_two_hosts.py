"""Two Slurm nodes that share nothing but the storage they reach over the network.

Each slurmd runs in its own network namespace (its own address on a veth, its own hostname,
its own node-local scratch directory bound over the same path); slurmctld and the S3 server
listen on this machine's end of the veths. An array must run on both nodes, every element's
output must be right, and each node must have used its own scratch directory.
"""

from __future__ import annotations

import os
import uuid

import pytest

from devcluster import netns
from devcluster import slurm as devcluster
from explorer_magics import session
from explorer_magics.analysis import Analysis, JobDefinition
from explorer_magics.compute.slurm import scheduler
from tests.moto_server import FAKE_AWS_ENV

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(not devcluster.available(), reason="slurm-wlm/munge not installed (make test installs them)"),
    pytest.mark.skipif(not netns.available(), reason="network namespaces need root and iproute2"),
]


@pytest.fixture
def two_hosts(tmp_path, monkeypatch, explorer_env):
    """Two namespaced slurmd nodes, slurmctld and an S3 server on this machine's veth address."""
    from moto.server import ThreadedMotoServer

    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    mount = f"/tmp/explorer-node-scratch-{uuid.uuid4().hex[:8]}"  # the same path on each node
    with netns.hosts(2) as machines:
        gateway = machines[0].gateway  # every namespace reaches this machine here
        s3 = ThreadedMotoServer(ip_address=gateway, port=0, verbose=False)
        s3.start()
        nodes = []
        for k, machine in enumerate(machines, start=1):
            scratch = tmp_path / f"scratch-n{k}"
            scratch.mkdir()
            nodes.append(
                devcluster.Node(f"n{k}", addr=machine.addr, netns=machine.name, scratch=scratch, scratch_mount=mount)
            )
        try:
            # one CPU per node: a second element at once has to go to the other node
            cluster = devcluster.start(tmp_path / "cluster", nodes=nodes, cpus=1, ctld_addr=gateway)
        except BaseException:
            s3.stop()
            raise
        try:
            host, port = s3.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            from explorer_magics import aws

            bucket = f"two-hosts-{uuid.uuid4().hex[:12]}"
            aws.client("s3", endpoint_url=endpoint, region="us-east-1").create_bucket(Bucket=bucket)
            monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
            monkeypatch.setenv("EXPLORER_COMPUTE", "slurm")
            monkeypatch.setenv("EXPLORER_STORAGE", f"s3://{bucket}/eos")
            monkeypatch.setenv("EXPLORER_S3_ENDPOINT_URL", endpoint)
            monkeypatch.setenv("EXPLORER_SLURM_SCRATCH_DIR", mount)
            scheduler.forget_limits()
            session.reset()
            yield cluster, nodes
        finally:
            session.reset()
            cluster.stop()
            s3.stop()
            aws.clear_clients()
            scheduler.forget_limits()
            if os.path.isdir(mount):
                os.rmdir(mount)


def where(ac):
    import socket
    import time

    time.sleep(2)  # long enough that the scheduler must use the other node too
    ac.output.value(key="host", value=socket.gethostname())
    ac.output.value(key="double", value=2 * ac.input)


def test_an_array_runs_on_two_hosts_that_share_only_the_storage(two_hosts):
    cluster, nodes = two_hosts
    an = Analysis(function=where, input=list(range(6)), job_definition=JobDefinition(cpu=1, memory_mb=400)).run()
    status = an.wait_done(timeout=180)
    assert status == {"status": "SUCCEEDED", "size": 6, "summary": {"SUCCEEDED": 6}}
    assert [an.get_output(i).value("double") for i in range(6)] == [2 * i for i in range(6)]
    hosts = [an.get_output(i).value("host") for i in range(6)]
    assert set(hosts) == {"n1", "n2"}
    for node in nodes:  # each node kept its state in its own scratch directory
        assert (node.scratch / "explorer-alice").is_dir()
