"""Two Slurm nodes that share nothing but the storage they reach over the network.

Each slurmd runs in its own network namespace (its own address on a veth, its own hostname,
its own node-local scratch directory bound over the same path); slurmctld and the S3 server
(SeaweedFS) listen on this machine's end of the veths. An array must run on both nodes, every element's
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

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(not devcluster.available(), reason="slurm-wlm/munge not installed (make test installs them)"),
    pytest.mark.skipif(not netns.available(), reason="network namespaces need root and iproute2"),
]


@pytest.fixture
def two_hosts(tmp_path, monkeypatch, explorer_env):
    """Two namespaced slurmd nodes; slurmctld and SeaweedFS (S3) on this machine's veth address."""
    from devcluster import seaweedfs

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    mount = f"/tmp/explorer-node-scratch-{uuid.uuid4().hex[:8]}"  # the same path on each node
    with netns.hosts(2) as machines:
        gateway = machines[0].gateway  # every namespace reaches this machine here
        s3 = seaweedfs.start(tmp_path / "seaweedfs", host=gateway, buckets=("two-hosts",))
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
            for key, value in s3.env().items():  # the nodes inherit these from the submitter
                monkeypatch.setenv(key, value)
            monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
            monkeypatch.setenv("EXPLORER_COMPUTE", "slurm")
            monkeypatch.setenv("EXPLORER_STORAGE", "s3://two-hosts/eos")
            monkeypatch.setenv("EXPLORER_SLURM_SCRATCH_DIR", mount)
            scheduler.forget_limits()
            session.reset()
            yield cluster, nodes, s3
        finally:
            session.reset()
            cluster.stop()
            s3.stop()
            from explorer_magics import aws

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
    cluster, nodes, s3 = two_hosts
    assert s3.endpoint.startswith("http://10.201.")  # reached over the veths, not loopback
    an = Analysis(function=where, input=list(range(6)), job_definition=JobDefinition(cpu=1, memory_mb=400)).run()
    status = an.wait_done(timeout=180)
    assert status == {"status": "SUCCEEDED", "size": 6, "summary": {"SUCCEEDED": 6}}
    assert [an.get_output(i).value("double") for i in range(6)] == [2 * i for i in range(6)]
    hosts = [an.get_output(i).value("host") for i in range(6)]
    assert set(hosts) == {"n1", "n2"}
    for i, host in enumerate(hosts):  # the element record names its host too (where records carry one)
        record = an._compute().element_status(an.manifest, i)
        assert getattr(record, "host", host) == host
    for node in nodes:  # each node kept its state in its own scratch directory
        assert (node.scratch / "explorer-alice").is_dir()
