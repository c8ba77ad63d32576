"""Bad input reaches the one error mapping (procmine.cli.main) through the real
entry point: exit 1 for data and runtime problems, 2 only for usage errors, a
helpful message on stderr, never a traceback."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT, T, build_workbook

HEADER = ["办件编号", "事项名称", "办理环节", "承办部门", "经办人", "开始时间", "结束时间", "是否到场"]


def procmine(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.pop("PROCMINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "procmine.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("errors")
    rows = [HEADER]
    for i in range(3):
        rows += [[f"C{i}", "测试事项", "受理", "窗口", "p", T(4 + i, 9), T(4 + i, 10), "是"],
                 [f"C{i}", "测试事项", "审批", "科室", "p", T(4 + i, 10), T(5 + i, 10), None]]
    src = build_workbook(tmp / "export.xlsx", {"s": rows})
    r = procmine("import", src, "-o", tmp / "log.parquet", cwd=tmp)
    assert r.returncode == 0, r.stderr
    return tmp


def check(r, code, *needles):
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


@pytest.mark.parametrize("text, needle", [
    ("visits: null\n", "'visits' must be a mapping"),
    ("steps: [审批]\n", "'steps' must be a mapping"),
    ("visits: {pickup: null}\n", "visits.pickup must be a regular expression"),
    ("thresholds: {min_cases: 很多}\n", "thresholds.min_cases must be a number"),
    ("visits: {pickup: '(领证'}\n", "not a valid regular expression"),
    ("catalogue: {a: 1}\n", "catalogue"),
    ("[1, 2]\n", "must be a YAML mapping"),
    ("visits: {pickup: 领证\n", "not valid YAML"),
])
def test_bad_rules_file(work, text, needle):
    (work / "rules.yaml").write_text(text, encoding="utf-8")
    check(procmine("audit", work / "log.parquet", "--rules", work / "rules.yaml", cwd=work), 1, needle)


def test_missing_rules_preset(work):
    check(procmine("audit", work / "log.parquet", "--rules", "没有这个规则", cwd=work), 1, "no rules file or preset")


@pytest.mark.parametrize("text, needle", [
    ("changes:\n  - remove: 审批: 「急」\n", "not valid YAML"),  # an unquoted colon in a step name
    ("changes:\n  - remove: '审批：「急」 #1 \"x\"'\n", "no step called"),
    ("changes:\n  - remove: \"\\t\\u0000\"\n", "no step called"),
    ("changes:\n  - merge: [审批]\n", "needs at least two steps"),
    ("changes:\n  - cap_wait: {hours: 八}\n", "cap_wait needs hours"),
    ("changes: 审批\n", "no 'changes:' list"),
    ("changes:\n  - remove: [受理, 审批]\n  - merge: [受理, 审批]\n", "already under"),
])
def test_bad_plan(work, text, needle):
    (work / "plan.yaml").write_text(text, encoding="utf-8")
    check(procmine("redesign", work / "log.parquet", "--plan", work / "plan.yaml", cwd=work), 1, needle)


@pytest.mark.parametrize("text, needle", [
    ("name: 指南\n", "no 'steps:' list"),
    ("name: 指南\nsteps:\n  - 受理\n  - parallel: 审批\n", "needs a list of at least two branches"),
    ("name: 指南\nsteps:\n  - 受理\n  - often: 审批\n", "unknown key 'often'"),
    ("name: 指南\nservice: 别的事项\nsteps: [受理]\n", "not in the log"),
    ("steps: [受理\n", "not valid YAML"),
])
def test_bad_reference(work, text, needle):
    (work / "ref.yaml").write_text(text, encoding="utf-8")
    check(procmine("conform", work / "log.parquet", "--reference", work / "ref.yaml", cwd=work), 1, needle)


def test_missing_reference_and_mapping(work):
    check(procmine("conform", work / "log.parquet", "--reference", work / "nope.yaml", cwd=work), 1, "no such reference")
    check(procmine("import", work / "export.xlsx", "-o", work / "x.parquet", "--mapping", "nope", cwd=work), 1,
          "no mapping file or preset")
    (work / "map.yaml").write_text("fields: {caseid: 办件编号}\n", encoding="utf-8")
    check(procmine("import", work / "export.xlsx", "-o", work / "x.parquet", "--mapping", work / "map.yaml", cwd=work),
          1, "unknown field")


@pytest.mark.parametrize("target", ["/proc/procmine-test/out.json", "afile/out.json"])
def test_unwritable_output(work, target):
    (work / "afile").write_text("a file where a folder should be")
    r = procmine("audit", work / "log.parquet", "-o", target, cwd=work)
    check(r, 1, "cannot write", target)
    assert ".tmp-" not in r.stderr


def test_unwritable_report_and_cases(work):
    check(procmine("report", work / "log.parquet", "-o", "/proc/report.html", cwd=work), 1, "cannot write")
    (work / "afile").write_text("x")
    check(procmine("cases", work / "log.parquet", "-o", "afile/c.csv", cwd=work), 1, "afile is a file, not a folder")


def test_missing_input_is_a_data_problem(work):
    check(procmine("audit", work / "nope.parquet", cwd=work), 1, "no such file")
    check(procmine("import", work / "nope.xlsx", "-o", work / "x.parquet", cwd=work), 1, "no such file")
    (work / "empty").mkdir(exist_ok=True)
    check(procmine("import", work / "empty", "-o", work / "x.parquet", cwd=work), 1, "no .xlsx")


def test_usage_errors_exit_2(work):
    check(procmine("audit", cwd=work), 2, "Missing argument")
    check(procmine("audit", work / "log.parquet", "--bogus", cwd=work), 2, "No such option")
    check(procmine("import", work / "export.xlsx", cwd=work), 2, "-o/--output")
    check(procmine("report", work / "log.parquet", "-o", work / "r.pdf", cwd=work), 2, "use .xlsx or .html")
    check(procmine("compare", work / "log.parquet", cwd=work), 2, "--split-date")


def test_a_bug_is_reported_as_one_and_not_as_a_traceback(work, monkeypatch):
    """Anything that is not one of procmine's errors: a one-line message, exit 70."""
    from procmine import cli

    def boom(*a, **k):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(cli.metrics, "case_metrics", boom)
    assert cli.main(["cases", str(work / "log.parquet"), "-o", str(work / "c.csv")]) == cli.INTERNAL_ERROR
    monkeypatch.setenv("PROCMINE_DEBUG", "1")
    with pytest.raises(TypeError):
        cli.main(["cases", str(work / "log.parquet"), "-o", str(work / "c.csv")])
