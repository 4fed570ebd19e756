"""A finished 10,000-element analysis record, written straight into storage as the local cluster
leaves one (manifest, summary, elements.txt, labels.txt, every element's status.json, a failed
element's stderr), so the pictures, the routes and the benchmark have a real-sized array without
running 10,000 processes. Used by tests/test_observe_browser.py and benchmarks/observe.py.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

from explorer_magics import records
from explorer_magics.observe.labels import pack_labels
from explorer_magics.records import FAILED, SUCCEEDED, ElementStatus, Manifest, StatusSummary
from explorer_magics.storage.base import Storage

CAUSES = (
    "FileNotFoundError: [Errno 2] No such file or directory: '/data/{s}/{s}.final.cram'",
    "CalledProcessError: Command 'samtools depth -a /tmp/explorer-element-{h}/{s}.cram' returned non-zero exit "
    "status 1.",
    "killed by SIGKILL (out of memory above memory_mb=4000, or killed from outside)",
)


def write_array(storage: Storage, user: str, *, size: int = 10_000, name: str = "coverage", seed: int = 14) -> Manifest:
    """Write the record; elements fail with one of three causes (about 3%, 1%, 0.5%), ten were
    cancelled before they started, the rest SUCCEEDED with measured runtimes and memory."""
    rng = random.Random(seed)
    now = time.time()
    manifest = Manifest(
        id=records.new_analysis_id(name),
        name=name,
        user=user,
        created=now - 3600,
        size=size,
        compute="local",
        storage=storage.url,
        job_definition={"cpu": 2, "memory_mb": 4000, "timeout_seconds": None, "retries": 0},
    )
    layout = manifest.layout
    labels = [f"HG{i:05d}" for i in range(size)]
    elements: list[ElementStatus] = []
    for i in range(size):
        started = now - 3500 + rng.random() * 3000
        run = rng.lognormvariate(3.5, 0.4)
        peak = rng.lognormvariate(7.0, 0.25)
        base = ElementStatus(
            i,
            SUCCEEDED,
            started=started,
            stopped=started + run,
            exit_code=0,
            input_label=labels[i],
            peak_rss_mb=round(peak, 1),
            cpu_s=round(run * 1.6, 2),
            host="node-1",
        )
        roll = rng.random()
        if i >= size - 10:
            base = ElementStatus(i, FAILED, reason=records.TERMINATED_BY_USER, stopped=now - 60, input_label=labels[i])
        elif roll < 0.03:
            base = dataclasses.replace(base, status=FAILED, exit_code=1, reason=CAUSES[0].format(s=labels[i]))
        elif roll < 0.04:
            base = dataclasses.replace(
                base, status=FAILED, exit_code=1, reason=CAUSES[1].format(s=labels[i], h=f"{rng.getrandbits(32):08x}")
            )
        elif roll < 0.045:
            base = dataclasses.replace(
                base, status=FAILED, exit_code=-9, signal="SIGKILL", peak_rss_mb=4000.0, reason=CAUSES[2]
            )
        elements.append(base)
    blob, index = records.pack_inputs([b"" for _ in range(size)])
    storage.put_bytes(layout.inputs_blob, blob)
    storage.put_bytes(layout.inputs_index, index)
    storage.put_bytes(layout.labels, pack_labels(labels))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda el: records.write_element_status(storage, layout, el), elements))
    failed = next(el for el in elements if el.status == FAILED and el.started is not None)
    storage.put_bytes(layout.log(failed.index, "stdout"), b"")
    storage.put_bytes(
        layout.log(failed.index, "stderr"), f"Traceback (most recent call last):\n{failed.reason}\n".encode()
    )
    letters = bytes(records.STATUS_LETTERS[el.status][0] for el in elements)
    storage.put_bytes(layout.elements, letters)
    counts = {s: n for s in (SUCCEEDED, FAILED) if (n := sum(el.status == s for el in elements))}
    summary = StatusSummary(status=FAILED, counts=counts, size=size, updated=now)
    storage.put_bytes(layout.summary, summary.to_json())
    storage.put_bytes(layout.manifest, manifest.to_json())
    return manifest


def first_failed_with_log(storage: Storage, manifest: Manifest) -> int:
    """The failed element whose stderr was written (its stdout is empty)."""
    letters = storage.get_bytes(manifest.layout.elements)
    for i, letter in enumerate(letters):
        if letter == ord("F"):
            el = json.loads(storage.get_bytes(manifest.layout.status(i)))
            if el.get("started") is not None:
                return i
    raise AssertionError("no failed element that started")
