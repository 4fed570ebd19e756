"""Issue 14 units: reason masking and the failure digest, input labels, usage and cost math."""

from __future__ import annotations

import pytest

from explorer_magics.errors import ExplorerError, InvalidAnalysis
from explorer_magics.models import File, Sample
from explorer_magics.observe import failure_digest, input_label, mask_reason
from explorer_magics.observe.labels import make_labels, pack_labels, unpack_labels
from explorer_magics.observe.usage import memory_hint, percentile, prices, usage
from explorer_magics.records import FAILED, RUNNING, SUCCEEDED, ElementStatus, Manifest

# (reason as elements really report it, its sample label, the pattern it is grouped under)
REAL_REASONS = [
    # Python tracebacks, as the runner words them (type: first line)
    (
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/NA12878/NA12878.final.cram'",
        "NA12878",
        "FileNotFoundError: [Errno <n>] No such file or directory: '<path>'",
    ),
    (
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/HG00096/HG00096.final.cram'",
        "HG00096",
        "FileNotFoundError: [Errno <n>] No such file or directory: '<path>'",
    ),
    ("KeyError: 'NA19240'", "NA19240", "KeyError: '<sample>'"),
    ("KeyError: 'chr17'", "HG00097", "KeyError: 'chr<n>'"),
    (
        "ValueError: invalid literal for int() with base 10: '12.5x'",
        "s1",
        "ValueError: invalid literal for int() with base <n>: '<n>x'",
    ),
    ("ZeroDivisionError: division by zero", "HG00099", "ZeroDivisionError: division by zero"),
    (
        "ModuleNotFoundError: No module named 'pysam'",
        "HG00100",
        "ModuleNotFoundError: No module named 'pysam'",
    ),
    # samtools / bcftools as CalledProcessError and in their own words
    (
        "CalledProcessError: Command 'samtools view -b /tmp/explorer-element-x8f3/HG00101.cram' "
        "returned non-zero exit status 1.",
        "HG00101",
        "CalledProcessError: Command 'samtools view -b <path>' returned non-zero exit status <n>.",
    ),
    (
        '[E::hts_open_format] Failed to open file "s3://bucket/crams/HG00102.cram" : No such file or directory',
        "HG00102",
        '[E::hts_open_format] Failed to open file "<path>" : No such file or directory',
    ),
    (
        'samtools view: failed to open "HG00103.cram" for reading: Exec format error',
        "HG00103",
        'samtools view: failed to open "<sample>.cram" for reading: Exec format error',
    ),
    (
        "[W::bcf_hdr_check_sanity] PL should be declared as Number=G; [E::bcf_write] Broken VCF record, "
        "the number of columns at chr1:10583 does not match the number of samples (2 vs 3)",
        "NA12891",
        "[W::bcf_hdr_check_sanity] PL should be declared as Number=G; [E::bcf_write] Broken VCF record, "
        "the number of columns at chr<n>:<n> does not match the number of samples (<n> vs <n>)",
    ),
    (
        "bcftools: error while loading shared libraries: libhts.so.3: cannot open shared object file",
        "NA12892",
        "bcftools: error while loading shared libraries: libhts.so.<n>: cannot open shared object file",
    ),
    # out of memory, timeout, signals (the local cluster's and AWS Batch's words)
    (
        "out of memory: the element needed more than memory_mb=4000 (MemoryError); raise JobDefinition(memory_mb=...)",
        "a",
        "out of memory: the element needed more than memory_mb=<n> (MemoryError); raise JobDefinition(memory_mb=...)",
    ),
    (
        "killed by SIGKILL (out of memory above memory_mb=2000, or killed from outside)",
        "b",
        "killed by SIGKILL (out of memory above memory_mb=<n>, or killed from outside)",
    ),
    (
        "timeout: the element ran longer than timeout_seconds=3600",
        "c",
        "timeout: the element ran longer than timeout_seconds=<n>",
    ),
    (
        "crashed with SIGSEGV (often out of memory: memory_mb=4000)",
        "d",
        "crashed with SIGSEGV (often out of memory: memory_mb=<n>)",
    ),
    # hex ids, uuids, line numbers
    (
        "RuntimeError: job 9f86d081884c7d65 failed on worker 3f2a1b7e-44c1-4e8a-9a6e-0c2b7d1e5f90 at line 212",
        "e",
        "RuntimeError: job <id> failed on worker <id> at line <n>",
    ),
    ("terminated by user", "f", "terminated by user"),
]


@pytest.mark.parametrize(("reason", "label", "pattern"), REAL_REASONS)
def test_a_real_reason_is_masked_to_its_cause(reason, label, pattern):
    assert mask_reason(reason, label) == pattern


def test_two_thousand_failures_with_three_causes_give_three_groups_largest_first():
    elements = []
    for i in range(2000):
        sample = f"HG{i:05d}"
        if i % 10 == 0:
            reason = f"timeout: the element ran longer than timeout_seconds={60 + i % 7}"
        elif i % 3 == 0:
            reason = f"FileNotFoundError: [Errno 2] No such file or directory: '/data/{sample}/{sample}.cram'"
        else:
            reason = f"KeyError: '{sample}'"
        elements.append(ElementStatus(i, FAILED, reason=reason, input_label=sample))
    elements.append(ElementStatus(2000, SUCCEEDED, input_label="HG02000"))  # not a failure
    groups = failure_digest(elements)
    assert [g["count"] for g in groups] == [1200, 600, 200]
    assert [g["reason"] for g in groups] == [
        "KeyError: '<sample>'",
        "FileNotFoundError: [Errno <n>] No such file or directory: '<path>'",
        "timeout: the element ran longer than timeout_seconds=<n>",
    ]
    top = groups[0]
    assert top["example_index"] == 1 and top["example"] == "KeyError: 'HG00001'"
    assert top["indices"][:3] == [1, 2, 4] and len(top["indices"]) == 1200
    assert sorted(i for g in groups for i in g["indices"]) == list(range(2000))


def test_an_element_without_a_reason_is_grouped_not_dropped():
    groups = failure_digest([ElementStatus(4, FAILED), ElementStatus(7, FAILED)])
    assert groups == [
        {
            "reason": "no reason recorded",
            "count": 2,
            "indices": [4, 7],
            "example": "no reason recorded",
            "example_index": 4,
        }
    ]


# -- labels --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "label"),
    [
        (Sample(id="NA12878"), "NA12878"),
        (File(path_s3="s3://bucket/crams/NA12878.final.cram"), "NA12878.final.cram"),
        (File(url="https://example.org/data/HG00096.vcf.gz?token=abc"), "HG00096.vcf.gz"),
        (("HG00096", "s3://bucket/HG00096.cram"), "HG00096"),
        ([Sample(id="S1"), 3], "S1"),
        ({"sample": "NA1", "cram": "x"}, "NA1"),
        ({"id": 7}, "7"),
        ("s3://bucket/crams/HG01.cram", "HG01.cram"),
        ("plain text", "plain text"),
        (42, "42"),
        (None, ""),
        ("line\nbreak\tand tab", "line break and tab"),
        ("x" * 100, "x" * 39 + "…"),
        ({"a": 1}, "{'a': 1}"),
    ],
)
def test_an_input_gets_a_short_human_label(value, label):
    assert input_label(value) == label


def test_a_label_function_overrides_the_rules_and_its_errors_name_the_element():
    assert make_labels([{"s": "a"}, {"s": "b"}], lambda x: x["s"].upper()) == ["A", "B"]
    with pytest.raises(InvalidAnalysis, match=r"label= raised KeyError.*element 1"):
        make_labels([{"s": "a"}, {}], lambda x: x["s"])


def test_labels_round_trip_one_per_line():
    labels = ["a", "", "b c", "…"]
    assert unpack_labels(pack_labels(labels)) == labels


# -- usage and cost --------------------------------------------------------------------------------
def _manifest(compute: str = "batch", **jd) -> Manifest:
    return Manifest(
        id="2026-01-01T000000_x_" + "0" * 32,
        name="x",
        user="alice",
        created=0.0,
        size=4,
        compute=compute,
        storage="/tmp",
        job_definition={"cpu": 2, "memory_mb": 4000, **jd},
    )


def test_usage_totals_requested_against_used_and_prices_it():
    m = _manifest()
    els = [
        ElementStatus(0, SUCCEEDED, started=0.0, stopped=3600.0, cpu_s=1800.0, peak_rss_mb=1024.0),
        ElementStatus(1, SUCCEEDED, started=0.0, stopped=3600.0, cpu_s=1800.0, peak_rss_mb=1024.0),
        ElementStatus(2, FAILED, started=100.0, stopped=1900.0, cpu_s=900.0, peak_rss_mb=512.0, reason="x"),
        ElementStatus(3, RUNNING, started=3000.0),
    ]
    u = usage(m, els, now=3600.0)
    assert u["measured"] == 3 and u["running"] == 1
    assert u["wall_s"] == 9000.0 and u["cpu_s"] == 4500.0
    # billed: 9000 s finished + 600 s running, at 2 vCPU and 4000 MB
    assert u["vcpu_hours"] == {"requested": round(9600 * 2 / 3600, 4), "used": 1.25}
    assert u["gb_hours"]["requested"] == round(9600 * 4000 / 1024 / 3600, 4)
    assert u["gb_hours"]["used"] == round((3600 * 1024 * 2 + 1800 * 512) / 1024 / 3600, 4)
    assert u["cpu_efficiency"] == 0.25
    assert u["peak_rss_mb"] == {"p50": 1024.0, "p95": 1024.0, "max": 1024.0}
    assert u["runtime_s"] == {"p50": 3600.0, "p95": 3600.0, "max": 3600.0}
    assert u["elapsed_s"] == 3600.0
    cost = u["cost"]
    assert cost["currency"] == "USD" and "m6i" in cost["source"]
    assert cost["spent"] == round(9600 * 2 / 3600 * 0.03335 + 9600 * 4000 / 1024 / 3600 * 0.003662, 4)
    assert cost["spent_failed"] == round(1800 * 2 / 3600 * 0.03335 + 1800 * 4000 / 1024 / 3600 * 0.003662, 4)
    assert "memory_mb=1300" in u["hint"]["memory"] and u["hint"]["memory_mb"] == 1300
    assert u["hint"]["cpu"] == "CPU busy 25% of cpu=2 requested: cpu=1 would do."


def test_the_local_cluster_costs_nothing_unless_a_price_is_set(tmp_path, monkeypatch):
    from explorer_magics import session

    assert prices("local")["vcpu_hour"] == 0 and prices("local")["gb_hour"] == 0
    cfg = tmp_path / "config.toml"
    cfg.write_text("[cost]\nvcpu_hour = 0.05\ngb_hour = 0.005\n[cost.local]\nvcpu_hour = 0.01\ngb_hour = 0\n")
    monkeypatch.setenv("EXPLORER_CONFIG", str(cfg))
    session.reset()
    assert prices("local")["vcpu_hour"] == 0.01 and prices("local")["source"] == "config file [cost.local]"
    assert prices("batch")["vcpu_hour"] == 0.05 and prices("batch")["source"] == "config file [cost]"
    monkeypatch.setenv("EXPLORER_COST_VCPU_HOUR", "0.2")
    session.reset()
    assert prices("batch")["vcpu_hour"] == 0.2 and prices("batch")["gb_hour"] == 0
    monkeypatch.setenv("EXPLORER_COST_VCPU_HOUR", "cheap")
    session.reset()
    with pytest.raises(ExplorerError, match="EXPLORER_COST_VCPU_HOUR must be a price"):
        prices("batch")


def test_memory_hint_says_what_would_fit():
    peaks = [1000.0] * 95 + [1100.0] * 5
    text, suggest = memory_hint(peaks, 4000)
    assert (
        suggest == 1400
        and text == "peak memory p95 1000 MB of 3.9 GB requested: memory_mb=1400 would fit 100% of elements."
    )
    text, suggest = memory_hint([3900.0], 4000)
    assert "close to" in text and suggest == 4700
    assert memory_hint([], 4000) == ("no element has finished with a measured peak memory yet.", None)
    assert "ran out of memory" in memory_hint([100.0], 4000, oom_failures=2)[0]


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5, 1, 3], 50) == 3
    assert percentile(list(range(1, 101)), 95) == 95
