"""Issue 15: the Spark engine runs the same definitions as the embedded engine and
gives the same numbers: the per-case table and the findings on the shipped sample,
and the hand-worked definition tests of issue 10 run again on Spark."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import test_audit as kinds
import test_definitions as hand
from conftest import require_spark
from procmine.analysis.audit import audit
from procmine.engine.metrics import case_metrics


pytestmark = pytest.mark.spark


@pytest.fixture(scope="module", autouse=True)
def _spark():
    require_spark()


@pytest.fixture
def SPARK(spark_options):
    """Every test here runs on the standalone cluster the test set-up starts
    (conftest.spark_master: a master and two workers on 127.0.0.1), not local[2]."""
    return spark_options


def test_the_cluster_is_a_master_and_two_workers_in_their_own_jvms(spark_cluster, SPARK):
    """The engine's session runs on the cluster: the master lists two workers and the
    engine's application holds both workers' cores (one each), in executors of its own."""
    import time

    from procmine.engine.runner import open_engine

    assert spark_cluster.url.startswith("spark://127.0.0.1:")
    with open_engine(SPARK) as eng:
        assert eng.spark.sparkContext.master == spark_cluster.url
        assert eng.spark.range(100).selectExpr("sum(id)").first()[0] == 4950  # 0 + 1 + … + 99
        deadline = time.monotonic() + 60
        while True:
            status = spark_cluster.status()
            apps = [a for a in status["activeapps"] if a["name"] == "procmine"]
            if apps and apps[0]["cores"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert status["aliveworkers"] == 2 and [w["cores"] for w in status["workers"]] == [1, 1]
    assert len(apps) == 1 and apps[0]["cores"] == 2  # one core on each worker


def test_the_sample_per_case_table_is_the_same_on_both_engines(sample_log_path, SPARK):
    duck = case_metrics(sample_log_path, as_of="2024-07-01")
    spark = case_metrics(sample_log_path, as_of="2024-07-01", engine=SPARK)
    assert len(duck) == 3500  # the sample's cases (logs/ground_truth.json)
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)


def test_the_sample_findings_are_the_same_on_both_engines(sample_log_path, SPARK):
    duck = audit(sample_log_path).to_json()
    spark = audit(sample_log_path, engine=SPARK).to_json()
    assert json.loads(duck)["findings"], "the sample has findings"
    assert duck == spark


def test_a_partitioned_directory_reads_the_same_on_both_engines(sample_log_path, tmp_path, SPARK):
    """A log split into hive-style partitions (as a data lake holds it) is one log."""
    log = pd.read_parquet(sample_log_path)
    for service, part in log.groupby("service"):
        d = tmp_path / "log" / f"svc={len(service)}"
        d.mkdir(parents=True, exist_ok=True)
        part.to_parquet(d / "part-0.parquet", index=False)
    whole = case_metrics(sample_log_path)
    duck = case_metrics(tmp_path / "log")
    spark = case_metrics(tmp_path / "log", engine=SPARK)
    pd.testing.assert_frame_equal(whole, duck, check_exact=True)
    pd.testing.assert_frame_equal(whole, spark, check_exact=True)


@pytest.mark.parametrize("test", [
    hand.test_the_clock_runs_from_acceptance_to_decision_not_first_to_last_event,
    hand.test_a_special_procedure_over_a_weekend_is_taken_off_the_clock,
    hand.test_a_correction_pauses_the_clock_from_notice_to_receipt,
    hand.test_open_cases_are_measured_as_of_a_date_red_and_yellow,
    hand.test_status_column_not_accepted_and_withdrawn_have_no_clock,
    hand.test_instant_cases_must_be_decided_on_the_day,
    hand.test_calendar_day_limits_count_calendar_days,
    hand.test_same_day_visits_split_by_a_gap_and_pickup_at_collection,
    hand.test_unrecognised_steps_mean_unknown_trips_not_zero,
    hand.test_a_weekend_wait_is_three_working_hours,
], ids=lambda t: t.__name__.removeprefix("test_"))
def test_the_hand_worked_definitions_hold_on_spark(test, monkeypatch, spark_master):
    monkeypatch.setenv("PROCMINE_ENGINE", "spark")  # every measure() in the test runs on Spark, on the cluster
    monkeypatch.setenv("PROCMINE_SPARK_MASTER", spark_master)
    test()


@pytest.mark.parametrize("test", [
    kinds.test_repeated_and_shareable_material_with_synonyms,
    kinds.test_rework_and_duplicate_check,
    kinds.test_rubber_stamp_needs_short_and_always_passing,
    kinds.test_parallelizable_steps_seen_in_both_orders,
    kinds.test_serial_signoff_chain_within_one_department,
    kinds.test_serial_signoff_runs_break_at_another_department_or_step,
    kinds.test_bottleneck_ranks_by_delay_contributed,
    kinds.test_bottleneck_baseline_is_never_zero_and_pauses_are_not_bottlenecks,
    kinds.test_parallelizable_pairs_of_one_service_are_one_finding,
    kinds.test_sla_overrun_names_where_time_went,
], ids=lambda t: t.__name__.removeprefix("test_"))
def test_the_hand_worked_findings_hold_on_spark(test, monkeypatch, tmp_path, spark_master):
    """Each finding kind's hand-worked log (tests/test_audit.py), its counts now
    aggregated in the engine, gives the same answer on Spark."""
    monkeypatch.setenv("PROCMINE_ENGINE", "spark")
    monkeypatch.setenv("PROCMINE_SPARK_MASTER", spark_master)
    rules = tmp_path / "rules.yaml"
    rules.write_text("thresholds: {min_cases: 1, parallel_min_cases: 4}\n", encoding="utf-8")  # as loose_rules
    test(str(rules))


def test_the_cli_runs_on_spark_and_says_what_is_missing(sample_log_path, tmp_path, spark_master):
    from test_audit import mklog

    import procmine

    # 受理 Mon 2024-03-04, 办结 Thu 03-07: Tue, Wed, Thu = 3 working days, limit 2 → 超期
    small = tmp_path / "small.parquet"
    procmine.write_log(mklog([("A", "受理", "2024-03-04 09:00", "2024-03-04 09:30", {"sla": 2}),
                              ("A", "办结", "2024-03-07 10:00", "2024-03-07 10:30", {"sla": 2})]), small)
    out = tmp_path / "cases.csv"
    # a standalone master gives an application every free core: this process's own Spark
    # session stops first, or the CLI's application would wait for cores that never come free
    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None:
        SparkSession.getActiveSession().stop()
    done = subprocess.run([sys.executable, "-c", "from procmine.cli import run; run()", "cases", str(small),
                           "-o", str(out), "--engine", "spark", "--spark-master", spark_master],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    row = pd.read_csv(out).iloc[0]
    assert (row["clock_days"], row["outcome"]) == (3, "超期") and "Stage" not in done.stderr  # no progress bars
    # without pyspark: a message naming the package, exit 1, no traceback
    code = ("import sys; sys.modules['pyspark'] = None; sys.modules['pyspark.sql'] = None\n"
            "from procmine.cli import run; run()")
    done = subprocess.run([sys.executable, "-c", code, "cases", str(sample_log_path), "-o", str(out), "--engine", "spark"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "pyspark" in done.stderr and "Traceback" not in done.stderr


def test_spark_reads_a_url_and_the_embedded_engine_says_to_use_spark(sample_log_path, SPARK):
    """A log on HDFS/S3 is a URL: Spark reads it (file:// here, the same code path);
    the embedded engine reads local files only and says what to do instead."""
    url = sample_log_path.resolve().as_uri()
    pd.testing.assert_frame_equal(case_metrics(sample_log_path), case_metrics(url, engine=SPARK), check_exact=True)
    done = subprocess.run([sys.executable, "-c", "from procmine.cli import run; run()", "audit", "hdfs:///egov/log/"],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "--engine spark" in done.stderr and "Traceback" not in done.stderr


def test_every_hand_built_case_gives_the_same_case_table_on_spark(SPARK):
    """Issue 25: all the case model's hand-built cases in one log, the whole case table
    compared once (each case's row depends on its own events alone, so one log holds them all)."""
    from test_case_model import all_logs

    log = all_logs()
    assert log["case_id"].nunique() >= 60
    duck = case_metrics(log, as_of="2024-12-31")
    spark = case_metrics(log, as_of="2024-12-31", engine=SPARK)
    pd.testing.assert_frame_equal(duck, spark, check_exact=True)
