"""Seeded generator of realistic approval-system exports (the sample in ``logs/``).

Three services, each exported the way real systems do it, with the quirks the
importer must survive and inefficiencies the audit must find::

    python -m procmine.samplegen logs/            # the shipped sample
    python -m procmine.samplegen --rows 1000000 benchmarks/data/1m.xlsx

What is planted is written to ``logs/ground_truth.json`` so tests can check
that later stages find it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

from chinese_calendar import is_workday
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

SEED = 20240305
START = dt.date(2024, 1, 2)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


class Clock:
    """Advances through working hours on the Chinese calendar (9:00–17:30)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def workday_start(self, day: dt.date) -> dt.datetime:
        while not is_workday(day):
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(9, 0)) + dt.timedelta(minutes=self.rng.randint(0, 420))

    def add(self, t: dt.datetime, hours: float) -> dt.datetime:
        """Add working hours (8.5 per working day)."""
        remaining = hours * 60
        while True:
            end_of_day = dt.datetime.combine(t.date(), dt.time(17, 30))
            left = (end_of_day - t).total_seconds() / 60
            if remaining <= left:
                return t + dt.timedelta(minutes=remaining)
            remaining -= max(left, 0)
            day = t.date() + dt.timedelta(days=1)
            while not is_workday(day):
                day += dt.timedelta(days=1)
            t = dt.datetime.combine(day, dt.time(9, 0))


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")


def _clerks(rng: random.Random, dept: str, k: int = 4) -> list[str]:
    return [_name(rng) for _ in range(k)]


def _fmt_time(rng: random.Random, t: dt.datetime, style: str):
    """A timestamp as some system writes it."""
    if style == "excel":
        return t
    if style == "slash":
        return f"{t.year}/{t.month}/{t.day} {t.hour}:{t.minute:02d}"
    if style == "cn":
        return f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}:{t.minute:02d}"
    if style == "serial":
        delta = t - dt.datetime(1899, 12, 30)
        return round(delta.days + delta.seconds / 86400, 6)
    if style == "iso":
        return t.strftime("%Y-%m-%d %H:%M:%S")
    if style == "dot":
        return t.strftime("%Y.%m.%d")
    raise ValueError(style)


def _mixed_style(rng: random.Random, weights=(70, 12, 8, 6, 4)) -> str:
    return rng.choices(["excel", "slash", "cn", "serial", "iso"], weights=weights)[0]


def _title(ws, text: str, width: int) -> None:
    ws.append([text])
    ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=width)
    ws.cell(ws.max_row, 1).font = Font(bold=True, size=14)
    ws.cell(ws.max_row, 1).alignment = Alignment(horizontal="center")


# --------------------------------------------------------------- 企业开办一件事

KB_HEADER = ["办件编号", "事项名称", "办理环节", "承办部门", "经办人", "开始时间", "结束时间", "提交材料",
             "办理渠道", "是否到场", "承诺时限"]
# case-level columns added to the flat exports (applicant and 好差评), filled by `Extras`
EXTRA_HEADER = ["申请人", "统一社会信用代码", "评价等级", "评价时间", "整改状态", "整改完成时间"]
LEVELS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]


def credit_code(rng: random.Random) -> str:
    """A made-up 统一社会信用代码 (18 characters, format only)."""
    return "91" + "".join(rng.choice("0123456789") for _ in range(6)) + "MA" + "".join(
        rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))


class Extras:
    """Applicants shared across services, 好差评 with a planted link to extra trips, and
    rectification dates — drawn from their own random stream so the process data stay
    what they were."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed + 14)
        self.clock = Clock(self.rng)
        self.companies: list[tuple[str, str, dt.datetime]] = []  # name, code, when its company was set up
        self.truth = {"rated": 0, "bad": 0, "bad_multi_trip": 0, "rated_multi_trip": 0, "bad_single": 0,
                      "rated_single": 0, "rectified": 0, "shared_applicants": {}}

    def new_company(self, started: dt.datetime) -> tuple[str, str]:
        name = f"XX{self.rng.choice('鑫华瑞丰达盛泰恒')}{self.rng.choice('源通信安顺隆兴和')}商贸有限公司{len(self.companies) + 1}"
        code = credit_code(self.rng)
        self.companies.append((name, code, started))
        return name, code

    def existing_company(self, service: str, when: dt.datetime, share: float) -> tuple[str, str]:
        """An applicant who set up a company shortly before (within 30 days), with probability ``share``."""
        recent = [c for c in self.companies if dt.timedelta(0) <= when - c[2] <= dt.timedelta(days=25)]
        if recent and self.rng.random() < share:
            name, code, _ = self.rng.choice(recent)
            self.truth["shared_applicants"][service] = self.truth["shared_applicants"].get(service, 0) + 1
            return name, code
        return self.new_company(when)

    def rating(self, multi_trip: bool, decided: dt.datetime | None) -> list:
        """[评价等级, 评价时间, 整改状态, 整改完成时间] — 30% unrated; 差评 far likelier after a second trip."""
        if decided is None or self.rng.random() < 0.3:
            return [None, None, None, None]
        bad = self.rng.random() < (0.35 if multi_trip else 0.04)
        level = self.rng.choice(LEVELS[3:]) if bad else self.rng.choices(LEVELS[:3], weights=(55, 35, 10))[0]
        when = self.clock.add(decided, self.rng.uniform(1, 20))
        t = self.truth
        t["rated"] += 1
        t["rated_multi_trip" if multi_trip else "rated_single"] += 1
        if not bad:
            return [level, when, None, None]
        t["bad"] += 1
        t["bad_multi_trip" if multi_trip else "bad_single"] += 1
        if self.rng.random() < 0.8:  # rectified, some after the 15-working-day deadline
            t["rectified"] += 1
            return [level, when, "已整改", self.clock.add(when, self.rng.uniform(4, 8.5 * 20))]
        return [level, when, "整改中", None]


def gen_kaiban(rng: random.Random, n_cases: int, truth: dict, extras: "Extras | None" = None) -> dict[str, list[list]]:
    """企业开办一件事: intake at the hall, then 市场监管/公安/税务/人社/公积金.

    Planted: 居民身份证 and 营业执照 handed over again at 税务, 人社 and 公积金
    (repeated + shareable material); 公积金 is the slow department; 印章刻制 and
    社保登记 happen in either order but one after the other (parallelizable);
    60% pick the licence up at the window (second trip).
    """
    clock = Clock(rng)
    clerks = {d: _clerks(rng, d) for d in ["政务服务中心", "市场监管局", "公安局", "税务局", "人社局", "公积金中心"]}
    quarters: dict[str, list[list]] = {"2024Q1": [], "2024Q2": []}
    pickups = 0
    multi_trip = 0
    for i in range(n_cases):
        cid = f"QYKB{2024000001 + i}"
        online = rng.random() < 0.35
        t = clock.workday_start(START + dt.timedelta(days=int(i * 170 / n_cases)))
        steps = []

        def step(name, dept, hours, wait, materials="", person="否"):
            nonlocal t
            t = clock.add(t, wait)
            s = t
            t = clock.add(t, hours)
            steps.append([name, dept, rng.choice(clerks[dept]), s, t, materials, person])

        step("申请受理", "政务服务中心", rng.uniform(0.3, 0.8), 0,
             "居民身份证、企业名称申报承诺书、公司章程、住所使用证明", "否" if online else "是")
        step("设立登记", "市场监管局", rng.uniform(0.5, 2), rng.uniform(1, 6))
        tail = [("印章刻制", "公安局", rng.uniform(0.5, 1.5), rng.uniform(2, 8), "营业执照、居民身份证"),
                ("社保登记", "人社局", rng.uniform(0.3, 1), rng.uniform(2, 8), "营业执照、居民身份证、劳动合同")]
        rng.shuffle(tail)
        for name, dept, h, w, mats in tail:
            step(name, dept, h, w, mats)
        step("税务登记及发票申领", "税务局", rng.uniform(0.5, 2), rng.uniform(2, 10), "营业执照、居民身份证、银行开户许可证")
        step("公积金开户", "公积金中心", rng.uniform(0.5, 1.5), rng.uniform(16, 60), "营业执照、居民身份证")
        pickup = rng.random() < 0.6
        if pickup:
            pickups += 1
            step("窗口领取营业执照", "政务服务中心", 0.2, rng.uniform(1, 8), "", "是")
        else:
            step("邮寄送达", "政务服务中心", 0.1, rng.uniform(1, 4), "", "否")
        channel = "网上申报" if online else "窗口受理"
        multi = len({st[3].date() for st in steps if st[6] == "是"}) > 1
        if multi:
            multi_trip += 1
        extra = []
        if extras is not None:
            extra = list(extras.new_company(steps[0][3])) + extras.rating(multi, steps[-2][4])
        quarter = "2024Q1" if steps[0][3].month <= 3 else "2024Q2"
        for k, (name, dept, clerk, s, e, mats, person) in enumerate(steps):
            quarters[quarter].append([cid, "企业开办一件事", name, dept, clerk, s, e, mats, channel, person,
                                      "3个工作日" if k == 0 else None] + extra)
    truth["企业开办一件事"] = {
        "cases": n_cases,
        "repeated_material": ["居民身份证", "营业执照"],
        "shareable_material": ["营业执照", "居民身份证"],
        "slow_department": "公积金中心",
        "parallelizable": ["印章刻制", "社保登记"],
        "pickup_trips": pickups,
        "excess_visit_cases": multi_trip,
        "sla_days": 3,
    }
    return quarters


def write_kaiban(rows_by_q: dict[str, list[list]], folder: Path, rng: random.Random, truth: dict) -> list[Path]:
    """One workbook per quarter; title row, merged case cells, mixed dates, 合计 footer."""
    out = []
    for quarter, rows in rows_by_q.items():
        wb = Workbook()
        ws = wb.active
        ws.title = "办件过程明细"
        header = KB_HEADER + (EXTRA_HEADER if rows and len(rows[0]) > len(KB_HEADER) else [])
        _title(ws, f"XX市企业开办一件事办件过程明细（{quarter}）", len(header))
        ws.append([f"导出时间：2024-07-0{len(out) + 1} 08:30   导出人：系统管理员"])
        ws.append(header)
        start = None
        for r, row in enumerate(rows):
            row = list(row)
            style = _mixed_style(rng)
            row[5] = _fmt_time(rng, row[5], style)
            row[6] = _fmt_time(rng, row[6], style if style != "serial" else "excel")
            first = r == 0 or rows[r - 1][0] != row[0]
            if first:
                if start is not None and ws.max_row > start:
                    ws.merge_cells(start_row=start, start_column=1, end_row=ws.max_row, end_column=1)
                    ws.merge_cells(start_row=start, start_column=2, end_row=ws.max_row, end_column=2)
                start = ws.max_row + 1
            else:
                row[0] = None
                row[1] = None
            ws.append(row)
        if start is not None and ws.max_row > start:
            ws.merge_cells(start_row=start, start_column=1, end_row=ws.max_row, end_column=1)
            ws.merge_cells(start_row=start, start_column=2, end_row=ws.max_row, end_column=2)
        ws.append([])
        ws.append(["合计", f"{len({r[0] for r in rows})}件"])
        path = folder / f"企业开办一件事_{quarter}.xlsx"
        wb.save(path)
        out.append(path)
    return out


# --------------------------------------------------------------- 食品经营许可

def gen_food(rng: random.Random, n_cases: int, truth: dict, extras: "Extras | None" = None) -> list[list]:
    """食品经营许可: corrections (second trip + rework), on-site check, rubber-stamp sign-off;
    with ``extras``: applicants (a share of them companies just set up through 企业开办),
    好差评, and the last cases still open (cut after the on-site check)."""
    clock = Clock(rng)
    clerks = _clerks(rng, "市场监管局", 6)
    rows = []
    corrections = 0
    window_pickups = 0
    multi_trip = 0
    open_cases: list[str] = []
    for i in range(n_cases):
        cid = f"SP{2024030000 + i}"
        online = rng.random() < 0.45
        t = clock.workday_start(START + dt.timedelta(days=int(i * 175 / n_cases)))
        mats = "营业执照、身份证、食品经营场所使用证明、食品安全管理制度、设备布局图"
        case_steps = []

        def step(name, hours, wait, materials="", person="N", dept="市场监管局"):
            nonlocal t
            t = clock.add(t, wait)
            s = t
            t = clock.add(t, hours)
            case_steps.append([cid, "食品经营许可", name, dept, rng.choice(clerks), s, t, materials,
                               "网上办理" if online else "窗口办理", person])

        step("受理", rng.uniform(0.2, 0.6), 0, mats, "N" if online else "Y")
        step("材料审查", rng.uniform(0.5, 2), rng.uniform(2, 12))
        if rng.random() < 0.3:
            corrections += 1
            step("补正告知", 0.1, rng.uniform(0.5, 2))
            step("补正材料提交", 0.3, rng.uniform(8, 40), "身份证、食品经营场所使用证明", "Y")
            step("材料审查", rng.uniform(0.5, 2), rng.uniform(2, 12))
        step("现场核查", rng.uniform(1, 3), rng.uniform(8, 30), "", "N")
        step("审批", rng.uniform(0.3, 1), rng.uniform(2, 10))
        step("审核签发", rng.uniform(0.02, 0.1), rng.uniform(0.5, 4))  # rubber stamp: minutes, always passes
        step("制证", rng.uniform(0.2, 0.5), rng.uniform(1, 4))
        if rng.random() < 0.55:
            window_pickups += 1
            step("窗口领证", 0.1, rng.uniform(4, 24), "", "Y")
        else:
            step("EMS送达", 0.1, rng.uniform(1, 8), "", "N")
        still_open = extras is not None and i >= n_cases - 200 and i % 12 == 0
        if still_open:  # the same random draws, but the case has not got past 现场核查 yet
            cut = next(k for k, r in enumerate(case_steps) if r[2] == "现场核查") + 1
            case_steps = case_steps[:cut]
            case_steps[-1][6] = None  # the check is under way
            open_cases.append(cid)
        multi = len({r[5].date() for r in case_steps if r[9] == "Y"}) > 1
        if multi:
            multi_trip += 1
        extra = []
        if extras is not None:
            who = list(extras.existing_company("食品经营许可", case_steps[0][5], 0.3))
            extra = who + extras.rating(multi, None if still_open else case_steps[-2][6])
        for row in case_steps:
            row.append("20个工作日")
            row.extend(extra)
        rows.extend(case_steps)
    truth["食品经营许可"] = {
        "cases": n_cases, "corrections": corrections, "rework_activity": "材料审查",
        "rubber_stamp": "审核签发", "window_pickups": window_pickups, "sla_days": 20,
        "excess_visit_cases": multi_trip,
        "on_site_inspection_not_a_trip": "现场核查",
        "open_cases": open_cases,
    }
    return rows


FOOD_HEADER_A = ["业务流水号", "事项", "节点名称", "办理单位", "办理人员", "接收时间", "完成时间", "申请材料",
                 "申报渠道", "是否现场", "承诺期限", "申请人", "统一社会信用代码", "评价结果", "评价时间", "整改情况",
                 "整改完成时间"]
FOOD_HEADER_B = ["受理编号", "事项名称", "环节名称", "所属部门", "操作人", "到达时间", "办结时间", "收件材料",
                 "受理方式", "现场办理", "承诺办结时限", "申请单位名称", "社会信用代码", "满意度评价", "评价日期",
                 "整改状态", "整改时间"]


def write_food(rows: list[list], folder: Path, rng: random.Random, truth: dict) -> Path:
    """Two sheets (two districts, two system dialects), dates as text and serials,
    a stray-space/full-width material list, a bad time and an empty case id."""
    wb = Workbook()
    cases = sorted({r[0] for r in rows})
    east = set(cases[: len(cases) // 2])
    planted_rejects = []
    for sheet, header, keep in (("东城区", FOOD_HEADER_A, True), ("西城区", FOOD_HEADER_B, False)):
        ws = wb.active if keep else wb.create_sheet()
        ws.title = sheet
        _title(ws, f"食品经营许可办件明细表（{sheet}）", len(header))
        ws.append(header)
        for row in rows:
            if (row[0] in east) != keep:
                continue
            row = list(row)
            style = rng.choices(["excel", "cn", "slash", "serial"], weights=(50, 25, 15, 10))[0]
            row[5] = _fmt_time(rng, row[5], style)
            row[6] = _fmt_time(rng, row[6], style) if row[6] is not None else None
            if row[7] and rng.random() < 0.3:
                row[7] = " " + row[7].replace("、", "；\u3000", 1) + "；"
            if row[9] and rng.random() < 0.2:
                row[9] = {"Y": "是", "N": "否"}[row[9]]
            ws.append(row)
        # planted bad rows
        ws.append([f"SP2099{sheet == '东城区' and 1 or 2:06d}", "食品经营许可", "受理", "市场监管局", "王伟",
                   "待定", "2024/6/1 10:00", "", "窗口办理", "是", "20个工作日"])
        planted_rejects.append((sheet, ws.max_row, "unparseable time"))
        ws.append([None, "食品经营许可", "制证", "市场监管局", "王伟", "2024/6/3 10:00", "2024/6/3 11:00",
                   "", "窗口办理", "否", "20个工作日"])
        planted_rejects.append((sheet, ws.max_row, "no case id"))
    path = folder / "食品经营许可_2024上半年.xlsx"
    wb.save(path)
    truth["食品经营许可"]["planted_rejects"] = planted_rejects
    return path


# --------------------------------------------------------------- 建筑工程施工许可 (wide 台账)

def write_construction(rng: random.Random, n_cases: int, folder: Path, truth: dict,
                       extras: "Extras | None" = None) -> Path:
    """A 台账: one row per case with stage times; serial sign-off in 住建局."""
    clock = Clock(rng)
    wb = Workbook()
    ws = wb.active
    ws.title = "施工许可台账"
    header = ["序号", "申请编号", "事项名称", "申请单位", "申请时间", "受理时间", "受理人", "初审时间", "初审人",
              "复审时间", "复审人", "审核时间", "审核人", "审批时间", "审批人", "办结时间", "承诺时限", "申请材料",
              "申报渠道"] + (["统一社会信用代码"] if extras is not None else [])
    _title(ws, "建筑工程施工许可办件台账（2024年1-6月）", len(header))
    ws.append(header)
    people = {k: _clerks(rng, k, 3) for k in ("受理", "初审", "复审", "审核", "审批")}
    over = 0
    for i in range(n_cases):
        t = clock.workday_start(START + dt.timedelta(days=int(i * 170 / n_cases)))
        applied = t
        t = clock.add(t, rng.uniform(0, 16))
        accepted = t
        times = {}
        for stage, wait in (("初审", (8, 24)), ("复审", (8, 40)), ("审核", (8, 40)), ("审批", (4, 24))):
            t = clock.add(t, rng.uniform(*wait))
            times[stage] = t
        t = clock.add(t, rng.uniform(1, 8))
        done = t
        if (done.date() - accepted.date()).days > 10:
            over += 1
        style = _mixed_style(rng, (75, 10, 10, 5, 0))
        company = f"XX建设有限公司{rng.randint(1, 300)}"
        code = None
        if extras is not None:
            company, code = extras.existing_company("建筑工程施工许可", applied, 0.1)
        row = [i + 1, f"JZ{2024050000 + i}", "建筑工程施工许可", company,
               _fmt_time(rng, applied, style), _fmt_time(rng, accepted, style), rng.choice(people["受理"])]
        for stage in ("初审", "复审", "审核", "审批"):
            row += [_fmt_time(rng, times[stage], style), rng.choice(people[stage])]
        row += [_fmt_time(rng, done, style), 7, "建筑工程施工许可申请表、营业执照、建设工程规划许可证、施工合同、不动产权证书",
                rng.choice(["窗口", "网上", "网上", "网上"])] + ([code] if extras is not None else [])
        ws.append(row)
    ws.append([None, "合计", f"{n_cases}件"])
    path = folder / "建筑工程施工许可_台账.xlsx"
    wb.save(path)
    truth["建筑工程施工许可"] = {"cases": n_cases, "layout": "wide", "serial_signoff": ["初审", "复审", "审核", "审批"],
                           "sla_days": 7, "shareable_material": ["营业执照", "不动产权证书"]}
    return path


def generate_sample(folder: str | Path, *, seed: int = SEED, scale: float = 1.0) -> list[Path]:
    """Write the shipped sample (three services, ~3,500 cases) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    truth: dict = {}
    extras = Extras(seed)
    paths = write_kaiban(gen_kaiban(rng, int(1500 * scale), truth, extras), folder, rng, truth)
    paths.append(write_food(gen_food(rng, int(1200 * scale), truth, extras), folder, rng, truth))
    paths.append(write_construction(rng, int(800 * scale), folder, truth, extras))
    truth["ratings"] = extras.truth
    (folder / "ground_truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                              encoding="utf-8")
    return paths


def generate_large(path: str | Path, rows: int = 1_000_000, *, seed: int = SEED) -> Path:
    """A single-sheet long export of ``rows`` rows for benchmarks (title row,
    mixed time formats, ~9 steps per case)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("办件明细")
    ws.append(["XX市政务服务办件过程明细（基准测试）"])
    ws.append(KB_HEADER)
    base = dt.datetime(2024, 1, 2, 9, 0)
    offices = {"市场监管局": ["市场监管局", "市场监管局东城分局", "市场监管局西城分局"],
               "公安局": ["公安局", "公安局治安支队"], "人社局": ["人社局", "社保中心"],
               "税务局": ["税务局一分局", "税务局二分局", "税务局三分局"], "公积金中心": ["公积金中心", "公积金管理部"],
               "政务服务中心": ["政务服务中心"]}
    written = 0
    case = 0
    while written < rows:
        case += 1
        t = base + dt.timedelta(minutes=case * 7)
        # real variety: corrections, rework, either order, optional steps, sub-offices
        seq = [("申请受理", "政务服务中心"), ("设立登记", "市场监管局")]
        if rng.random() < 0.25:
            seq += [("补正告知", "市场监管局"), ("补正材料提交", "政务服务中心"), ("设立登记", "市场监管局")]
        pair = [("印章刻制", "公安局"), ("社保登记", "人社局")]
        rng.shuffle(pair)
        seq += pair
        if rng.random() < 0.15:
            seq.append(("现场核查", "市场监管局"))
        seq.append(("税务登记及发票申领", "税务局"))
        if rng.random() < 0.1:
            seq.append(("税务登记及发票申领", "税务局"))
        if rng.random() < 0.8:
            seq.append(("公积金开户", "公积金中心"))
        seq.append(("窗口领取营业执照", "政务服务中心") if rng.random() < 0.6 else ("邮寄送达", "政务服务中心"))
        for k, (step, dept) in enumerate(seq):
            if written >= rows:
                break
            s = t + dt.timedelta(hours=rng.uniform(0, 30))
            e = s + dt.timedelta(hours=rng.uniform(0.1, 3))
            t = e
            mixed = written % 10
            start = s if mixed < 8 else (f"{s.year}/{s.month}/{s.day} {s.hour}:{s.minute:02d}" if mixed == 8
                                         else f"{s.year}年{s.month}月{s.day}日 {s.hour:02d}:{s.minute:02d}")
            ws.append([f"QYKB{3000000000 + case}", "企业开办一件事", step, rng.choice(offices[dept]),
                       "经办人" + str(rng.randint(1, 200)), start, e,
                       "居民身份证、营业执照" if step in ("申请受理", "税务登记及发票申领") else None,
                       "窗口受理", "是" if step in ("申请受理", "窗口领取营业执照", "补正材料提交") else "否",
                       "3个工作日" if k == 0 else None])
            written += 1
    wb.save(path)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", help="folder for the sample, or .xlsx path with --rows")
    p.add_argument("--rows", type=int, help="write one large export of this many rows instead")
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args(argv)
    if args.rows:
        print(generate_large(args.target, args.rows, seed=args.seed))
    else:
        for path in generate_sample(args.target, seed=args.seed):
            print(path)


if __name__ == "__main__":
    main()
