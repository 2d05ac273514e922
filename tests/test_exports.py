"""/export and ``stabot export``/``stabot stats``: the .xlsx cells, the totals, and scoping."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from bot.cli import main
from bot.services import stats
from bot.services.people import Scope
from bot.services.stats import StatsError
from offline.updates import TgUser
from storage import users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.models import Role
from tests.conftest import START, SUPERADMIN_ID
from tests.harness import BeforeFirst, running_bot, sent_texts
from tests.test_stats import (  # noqa: F401 - fixtures
    HOHHOT_ADMIN,
    LIAISON,
    TODAY,
    activity,
    logged,
    member,
    reports,
    tree,
)

HEADERS = [
    "编号", "类型", "其他类型说明", "名称", "日期", "地点", "组织", "组织路径", "参与人数", "受众",
    "单位", "数量", "简介", "照片数", "登记人", "登记时间", "修改人", "修改时间",
]  # fmt: skip


def _book(data: bytes):
    return load_workbook(io.BytesIO(data), read_only=False)


def _first_column(sheet) -> list:
    return [row[0] for row in sheet.iter_rows(values_only=True)]


def _column(sheet, title: str) -> list:
    index = [c.value for c in sheet[1]].index(title)
    return [row[index] for row in sheet.iter_rows(min_row=2, values_only=True)]


@pytest.fixture
async def detailed(sessions, logged):  # noqa: F811
    """One activity with every field filled, including text that must stay text."""
    row = activity(logged["赛罕区科协"], date(2026, 3, 12), "other", 60)
    row.type_other, row.title, row.place = "科普大篷车", '=HYPERLINK("x")', "赛罕区\x07广场"
    row.audience, row.summary, row.photos = ["youth", "farmers"], "进村入户。", ["p1", "p2"]
    row.updated_at = datetime(2026, 3, 13, 1, 30, tzinfo=START.tzinfo)
    row.updated_by = HOHHOT_ADMIN.id  # the admin corrected it
    async with transaction(sessions) as session:
        session.add(row)
        admin = await users_repo.get_user(session=session, telegram_id=HOHHOT_ADMIN.id)
        admin.real_name = "李主任"
        first = await session.get(Activity, 1)  # 赛罕's lecture of 1月10日
        first.updated_by, first.updated_at = 31337, START  # by someone never registered
    return logged


async def test_export_in_chat_is_a_scoped_workbook(settings, clock, detailed):
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/export")
        calls = await bot.press(HOHHOT_ADMIN, "本年")
    [sent] = [c for c in calls if c.method == "sendDocument"]
    assert sent.params["caption"].startswith("活动明细 6 条")
    book = _book(sent.files["document"])
    assert book.sheetnames == ["活动明细", "汇总"]
    detail = book["活动明细"]
    assert [c.value for c in detail[1]] == HEADERS
    assert set(_column(detail, "组织")) == {"赛罕区科协", "伊利集团科协", "呼和浩特市科协"}
    assert _column(detail, "日期")[0] == datetime(2026, 1, 10)  # sorted by day, real dates
    last = dict(zip(HEADERS, [c.value for c in detail[detail.max_row]], strict=True))
    assert (last["类型"], last["其他类型说明"]) == ("其他", "科普大篷车")
    assert last["名称"] == '=HYPERLINK("x")' and detail.cell(detail.max_row, 4).data_type == "s"
    assert last["地点"] == "赛罕区广场" and last["受众"] == "青少年、农牧民"
    assert last["组织路径"] == "内蒙古自治区科协 › 呼和浩特市科协 › 赛罕区科协"
    assert (last["照片数"], last["登记人"], last["单位"]) == (2, "王芳", "项")
    assert last["登记时间"] == datetime(2026, 3, 16, 10, 0)  # local time
    assert (last["修改人"], last["修改时间"]) == ("李主任", datetime(2026, 3, 13, 9, 30))
    assert _column(detail, "修改人") == ["31337", None, None, None, None, "李主任"]
    totals = [row for row in book["汇总"].iter_rows(values_only=True)]
    flat = {cell for row in totals for cell in row if cell is not None}
    assert "包头市科协" not in flat and "包钢集团科协" not in flat
    assert ("活动合计（不含推送）", None, 5, 5, 490) in totals
    assert ("伊利集团科协", "内蒙古自治区科协 › 呼和浩特市科协 › 和林格尔新区科协 › 伊利集团科协",
            2, 280, 0) in totals  # fmt: skip


def _cells(book) -> dict[str, list[tuple]]:
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


async def _extra_tasks(sessions, issuer, target, count: int) -> None:
    from storage.task_models import ReportTask, TaskCycle, TaskTarget

    async with transaction(sessions) as session:
        for n in range(count):
            task = ReportTask(title=f"月报{n + 1}", org_id=issuer.id, created_by=1,
                              sections=["情况"], created_at=START, updated_at=START)  # fmt: skip
            session.add(task)
            await session.flush()
            session.add(TaskTarget(task_id=task.id, org_id=target.id))
            deadline = datetime(2026, 3, 31, 10, tzinfo=START.tzinfo)
            session.add(TaskCycle(task_id=task.id, seq=1, period_start=date(2026, 3, 1),
                                  period_end=date(2026, 3, 31), deadline=deadline))  # fmt: skip


async def test_export_offers_a_tasks_submissions_scoped_as_the_board(
    settings, clock, sessions, logged, reports  # noqa: F811
):
    await _extra_tasks(sessions, logged["呼和浩特市科协"], logged["赛罕区科协"], 8)
    baotou_admin = TgUser(id=40004, first_name="包头管理员")
    tumote_admin = TgUser(id=40005, first_name="土左旗管理员")
    await member(sessions, clock, baotou_admin, logged["包头市科协"], Role.ADMIN)
    await member(sessions, clock, tumote_admin, logged["土默特左旗科协"], Role.ADMIN)
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/export")
        await bot.press(HOHHOT_ADMIN, "报送任务的填报情况")
        assert "请选择任务" in bot.last_text(HOHHOT_ADMIN.id)
        first = bot.button_texts(HOHHOT_ADMIN.id)
        await bot.press(HOHHOT_ADMIN, "下一页")
        second = bot.button_texts(HOHHOT_ADMIN.id)
        chosen = await bot.press(HOHHOT_ADMIN, "落实情况")
        await bot.text(HOHHOT_ADMIN, "/tasks")
        await bot.press(HOHHOT_ADMIN, "进度：落实情况")
        from_board = await bot.press(HOHHOT_ADMIN, "导出 Excel")
        await bot.text(baotou_admin, "/export")
        await bot.press(baotou_admin, "报送任务的填报情况")
        baotou = bot.button_texts(baotou_admin.id)
        baotou_file = await bot.press(baotou_admin, "落实情况")
        await bot.text(tumote_admin, "/export")
        await bot.press(tumote_admin, "报送任务的填报情况")
        assert "还没有报送任务" in bot.last_text(tumote_admin.id)
    assert [b for b in first if "月报" in b] == [f"📥 月报{n}" for n in range(8, 0, -1)]
    assert "📥 落实情况" in second and "◀ 上一页" in second  # the oldest task, on page two
    [sent] = [c for c in chosen if c.method == "sendDocument"]
    [board] = [c for c in from_board if c.method == "sendDocument"]
    cells = _cells(_book(sent.files["document"]))
    assert cells == _cells(_book(board.files["document"]))  # the board's workbook and scope
    assert [row[0] for row in cells["第1期"]] == ["组织", "赛罕区科协", "伊利集团科协"]
    assert [b for b in baotou if b.startswith("📥")] == ["📥 落实情况"]  # not 呼和浩特's 月报
    [other] = [c for c in baotou_file if c.method == "sendDocument"]
    assert [row[0] for row in _cells(_book(other.files["document"]))["第1期"]] == [
        "组织", "包钢集团科协"
    ]  # fmt: skip


async def test_activity_totals_sheet_adds_up_the_subtree(settings, clock, logged):  # noqa: F811
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/export")
        calls = await bot.press(HOHHOT_ADMIN, "本年")
    [sent] = [c for c in calls if c.method == "sendDocument"]
    path = "内蒙古自治区科协 › 呼和浩特市科协"
    assert [tuple(v for v in row if v is not None) for row in _cells(_book(
        sent.files["document"]))["汇总"]] == [
        ("范围", path), ("期间", "2026-01-01 – 2026-03-16"), (),
        ("类型", "单位", "记录数", "数量", "参与人数"),
        ("科普讲座/报告", "场", 2, 2, 200),  # 120 + 80; the deleted 999 and 2025's 999 left out
        ("科技培训", "期", 1, 1, 30),
        ("展览展示", "场", 1, 1, 200),
        ("转载推送科普信息", "篇次", 1, 7, 0),
        ("活动合计（不含推送）", 4, 4, 430), (),
        ("组织", "组织路径", "活动数", "参与人数", "推送篇次"),
        ("赛罕区科协", f"{path} › 赛罕区科协", 2, 150, 0),
        ("伊利集团科协", f"{path} › 和林格尔新区科协 › 伊利集团科协", 2, 280, 0),
        ("呼和浩特市科协", path, 0, 0, 7),
    ]  # fmt: skip


@pytest.fixture
async def late_task(sessions, logged):  # noqa: F811
    """呼和浩特's task with sections in no sorted order: 赛罕 on time, 伊利 late, 土左旗 not."""
    from storage.task_models import ReportSubmission, ReportTask, TaskCycle, TaskTarget

    orgs = [logged[n] for n in ("赛罕区科协", "伊利集团科协", "土默特左旗科协")]
    async with transaction(sessions) as session:
        task = ReportTask(title="三季度", org_id=logged["呼和浩特市科协"].id, created_by=1,
                          sections=["实际成效", "工作抓手", "有效措施"],
                          indicators=["活动场次", "参与人次"],
                          created_at=START, updated_at=START)  # fmt: skip
        session.add(task)
        await session.flush()
        session.add_all(TaskTarget(task_id=task.id, org_id=o.id) for o in orgs)
        cycle = TaskCycle(task_id=task.id, seq=1, period_start=date(2026, 1, 1),
                          period_end=date(2026, 3, 31),
                          deadline=datetime(2026, 3, 10, 10, tzinfo=START.tzinfo))  # fmt: skip
        session.add(cycle)
        await session.flush()
        for org, late, n in ((orgs[0], False, 3), (orgs[1], True, 5)):
            session.add(ReportSubmission(
                cycle_id=cycle.id, org_id=org.id, submitted_by=1, submitted_at=START,
                late=late, indicators={"参与人次": 100 * n, "活动场次": n},
                sections={"有效措施": f"{org.name}措施", "工作抓手": f"{org.name}抓手",
                          "实际成效": f"{org.name}成效"},
            ))  # fmt: skip
        return task.id


async def test_task_workbook_cells(sessions, late_task):
    from bot.services import task_export

    async with transaction(sessions) as session:
        data = await task_export.task_workbook(session, late_task, Scope(None))
    book = _book(data)
    assert book.sheetnames == ["汇总", "报送情况"]
    sheet = book["报送情况"]
    assert [c.value for c in sheet[1]] == [
        "组织", "组织路径", "状态", "提交时间", "是否逾期", "实际成效", "工作抓手", "有效措施",
        "活动场次", "参与人次",
    ]  # fmt: skip  (the sections in the task's order)
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    late = rows["伊利集团科协"]
    assert (late[2].value, late[4].column_letter, late[4].value) == ("逾期提交", "E", "是")
    assert [c.value for c in late[5:]] == ["伊利集团科协成效", "伊利集团科协抓手",
                                           "伊利集团科协措施", 5, 500]  # fmt: skip
    on_time = rows["赛罕区科协"]
    assert (on_time[2].value, on_time[3].value, on_time[4].value) == (
        "已提交", datetime(2026, 3, 16, 10, 0), "否"
    )  # fmt: skip
    assert [c.value for c in rows["土默特左旗科协"][2:]] == ["未提交"] + [None] * 7
    assert list(book["汇总"].iter_rows(values_only=True)) == [
        ("周期", "截止时间", "应报", "按时提交", "逾期提交", "未提交", "活动场次", "参与人次"),
        (1, datetime(2026, 3, 10, 18, 0), 3, 1, 1, 1, 8, 800),
    ]


async def test_export_refusals(settings, clock, logged):  # noqa: F811
    async with running_bot(settings, clock) as bot:
        refused = await bot.text(LIAISON, "/export")
        await bot.text(HOHHOT_ADMIN, "/export")
        await bot.press(HOHHOT_ADMIN, "自定义")
        empty = await bot.text(HOHHOT_ADMIN, "2025-06-01 至 2025-06-30")
    assert "只有管理员可以导出" in "\n".join(sent_texts(refused))
    assert "没有可导出的内容" in "\n".join(sent_texts(empty))
    assert not [c for c in refused + empty if c.method == "sendDocument"]


async def test_the_export_checks_the_scope_again_when_it_is_written(
    settings, clock, sessions, logged  # noqa: F811
):
    """The admin loses the role between the press and the export's own read: no file."""

    async def demote() -> None:
        async with transaction(sessions) as session:
            admin = await users_repo.get_user(session=session, telegram_id=HOHHOT_ADMIN.id)
            admin.role = Role.LIAISON

    boss = TgUser(id=SUPERADMIN_ID, first_name="超管")
    async with running_bot(settings, clock) as bot:
        await bot.text(boss, "/export")
        allowed = await bot.press(boss, "本年")
        await bot.text(HOHHOT_ADMIN, "/export")
        # The upload's chat action goes after the picker's transaction, before the export reads.
        bot.app.bot.request.inner = BeforeFirst(bot.api, "sendChatAction", demote)
        lost = await bot.press(HOHHOT_ADMIN, "本年")
    assert "只有管理员可以导出" in "\n".join(sent_texts(lost))
    assert not [c for c in lost if c.method == "sendDocument"]
    [sent] = [c for c in allowed if c.method == "sendDocument"]
    assert "包钢集团科协" in _column(_book(sent.files["document"])["活动明细"], "组织")
    async with transaction(sessions) as session:
        admin = await users_repo.get_user(session=session, telegram_id=HOHHOT_ADMIN.id)
    assert admin.role == Role.LIAISON  # the demotion was committed before the export ran


@pytest.mark.parametrize(
    ("who", "org", "refusal"),
    [
        ("city admin", None, "stats.not_your_org"),  # a job that forgot the admin's scope
        ("city admin", "包钢集团科协", "stats.not_your_org"),  # another city's org
        ("liaison", "呼和浩特市科协", "stats.admins_only"),
        ("superadmin", None, None),  # everything
        ("city admin", "呼和浩特市科协", None),
    ],
)
async def test_the_export_writer_checks_the_job_against_the_scope(
    sessions, logged, who, org, refusal  # noqa: F811
):
    """What a job may name, checked afresh by the export's own read (``export_org_of``)."""
    telegram_id = {"city admin": HOHHOT_ADMIN.id, "liaison": LIAISON.id}.get(who, SUPERADMIN_ID)
    org_id = logged[org].id if org else None
    superadmin = who == "superadmin"
    async with transaction(sessions) as session:
        if refusal is None:
            found = await stats.export_org_of(session, telegram_id, superadmin, org_id)
            assert (found.id if found else None) == org_id
            return
        with pytest.raises(StatsError) as refused:
            await stats.export_org_of(session, telegram_id, superadmin, org_id)
    assert refused.value.key == refusal


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)


async def _cli(*argv: str) -> int:
    # Each command runs its own event loop, so it goes to a worker thread.
    return await asyncio.to_thread(main, list(argv))


async def test_cli_export_is_scoped_unless_all(cli_env, logged, tmp_path, capsys):  # noqa: F811
    hohhot = str(logged["呼和浩特市科协"].id)
    span = ("--from", "2026-01-01", "--to", "2026-03-31")
    assert await _cli("export", "activities", "--org", hohhot, *span, "-o", "h.xlsx") == 0
    assert await _cli("export", "activities", "--all", *span, "-o", "all.xlsx") == 0
    assert capsys.readouterr().out.split() == ["5", "h.xlsx", "8", "all.xlsx"]
    scoped = _column(load_workbook(tmp_path / "h.xlsx")["活动明细"], "组织")
    everything = _column(load_workbook(tmp_path / "all.xlsx")["活动明细"], "组织")
    assert "包钢集团科协" not in scoped and "包钢集团科协" in everything
    assert await _cli("export", "activities", "--all", *span, "--lang", "en", "-o", "en.xlsx") == 0
    capsys.readouterr()
    assert load_workbook(tmp_path / "en.xlsx").sheetnames == ["Activities", "Totals"]
    with pytest.raises(SystemExit):  # neither --org nor --all
        await _cli("export", "activities", *span, "-o", "x.xlsx")
    assert await _cli("export", "activities", "--org", "999", *span, "-o", "x.xlsx") == 1
    assert await _cli("export", "activities", "--all", "--from", "2026-03-31", "--to",
                      "2026-01-01", "-o", "x.xlsx") == 1  # fmt: skip
    assert not (tmp_path / "x.xlsx").exists()


async def test_cli_task_export_is_scoped(cli_env, logged, reports, tmp_path):  # noqa: F811
    hohhot = str(logged["呼和浩特市科协"].id)
    assert await _cli("export", "task", str(reports), "--org", hohhot, "-o", "h.xlsx") == 0
    assert await _cli("export", "task", str(reports), "-o", "issuer.xlsx") == 0
    assert await _cli("export", "task", "999", "-o", "none.xlsx") == 1
    scoped = [
        r[0] for r in load_workbook(tmp_path / "h.xlsx")["第1期"].iter_rows(values_only=True)
    ]
    issuer = load_workbook(tmp_path / "issuer.xlsx")["第1期"]
    assert "包钢集团科协" not in scoped and {"赛罕区科协", "伊利集团科协"} <= set(scoped)
    assert "包钢集团科协" in [r[0] for r in issuer.iter_rows(values_only=True)]
    assert not (tmp_path / "none.xlsx").exists()


async def test_cli_task_export_takes_org_or_all_not_both(
    cli_env, sessions, logged, reports, tmp_path, capsys  # noqa: F811
):
    from storage.task_models import ReportTask

    hohhot = logged["呼和浩特市科协"].id
    async with transaction(sessions) as session:  # issued by 呼和浩特, yet asking 包钢 too
        (await session.get(ReportTask, reports)).org_id = hohhot
    task = str(reports)
    for both in (("--org", str(hohhot), "--all"), ("--all", "--org", str(hohhot))):
        with pytest.raises(SystemExit) as exited:
            await _cli("export", "task", task, *both, "-o", "both.xlsx")
        assert exited.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "both.xlsx").exists()
    assert await _cli("export", "task", task, "-o", "default.xlsx") == 0
    assert await _cli("export", "task", task, "--all", "-o", "all.xlsx") == 0
    orgs = {
        name: _first_column(load_workbook(tmp_path / f"{name}.xlsx")["第1期"])
        for name in ("default", "all")
    }
    assert orgs["default"] == ["组织", "赛罕区科协", "伊利集团科协"]  # the issuer's subtree
    assert orgs["all"] == [*orgs["default"], "包钢集团科协"]
    with pytest.raises(SystemExit):
        await _cli("export", "task", "--help")
    assert "Without --org or --all: the target orgs in the issuing org's subtree" in " ".join(
        capsys.readouterr().out.split()
    )


EN_ADMIN = TgUser(id=40003, first_name="Admin", language_code="en")


async def test_task_workbook_speaks_the_admins_language(
    settings, sessions, clock, logged, reports, cli_env, tmp_path  # noqa: F811
):
    await member(sessions, clock, EN_ADMIN, logged["呼和浩特市科协"], Role.ADMIN)
    async with running_bot(settings, clock) as bot:
        await bot.text(EN_ADMIN, "/tasks")
        await bot.press(EN_ADMIN, "Progress: 落实情况")
        calls = await bot.press(EN_ADMIN, "Export Excel")
    [sent] = [c for c in calls if c.method == "sendDocument"]
    assert await _cli("export", "task", str(reports), "--lang", "en", "-o", "en.xlsx") == 0
    for book in (_book(sent.files["document"]), load_workbook(tmp_path / "en.xlsx")):
        assert book.sheetnames == ["Summary", "Cycle 1", "Cycle 2"]
        assert [c.value for c in book["Summary"][1]] == [
            "Cycle", "Deadline", "Expected", "On time", "Late", "Missing"
        ]  # fmt: skip
        rows = list(book["Cycle 1"].iter_rows(values_only=True))
        assert rows[0] == ("Organisation", "Organisation path", "State", "Submitted at",
                           "Late", "工作抓手")  # fmt: skip  (the task's own words stay)
        by_org = {row[0]: row for row in rows[1:]}
        assert by_org["伊利集团科协"][2::2] == ("Late", "yes")
        assert by_org["赛罕区科协"][2::2] == ("Submitted", "no")
        assert set(_column(book["Cycle 2"], "State")) == {"Missing"}
    with pytest.raises(SystemExit):
        await _cli("export", "task", str(reports), "--lang", "fr", "-o", "fr.xlsx")


async def test_cli_stats_json(cli_env, logged, capsys):  # noqa: F811
    hohhot = str(logged["呼和浩特市科协"].id)
    span = ("--from", "2026-01-01", "--to", "2026-03-31")
    assert await _cli("stats", "--org", hohhot, *span, "--json") == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["activities"], figures["pushes"], figures["org_name"]) == (
        4, 7, "呼和浩特市科协"
    )  # fmt: skip
    assert figures["by_month"] == {"2026-01": 1, "2026-02": 1, "2026-03": 2}
    assert await _cli("stats", "--org", hohhot, *span) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "activities\t4" in lines and "type\t科普讲座/报告\t2 场" in lines
    assert "org\t包钢集团科协\t1" not in lines


async def test_deleted_and_other_subtrees_never_reach_the_file(sessions, logged, tmp_path):  # noqa: F811
    from zoneinfo import ZoneInfo

    from bot.services import exports
    from bot.services.stats import Period

    async with transaction(sessions) as session:
        await exports.write_activities(
            session,
            org=logged["伊利集团科协"],
            period=Period(date(2025, 1, 1), date(2026, 3, 16)),
            target=tmp_path / "yili.xlsx",
            locale="en",
            tz=ZoneInfo("Asia/Shanghai"),
        )
        deleted = await session.get(Activity, 6)
    sheet = load_workbook(tmp_path / "yili.xlsx")["Activities"]
    assert [c.value for c in sheet[1]][:3] == ["ID", "Type", "Other type"]
    assert _column(sheet, "Participants") == [80, 200]  # the deleted 999 stays out
    assert deleted is not None and deleted.deleted_at is not None


def test_streamed_workbook_cells_read_back_with_openpyxl(tmp_path):
    from bot.services import xlsx_stream

    assert [xlsx_stream.column_letter(i) for i in (0, 25, 26, 701, 702)] == [
        "A", "Z", "AA", "ZZ", "AAA"
    ]  # fmt: skip
    book = xlsx_stream.Workbook(tmp_path / "t.xlsx")
    sheet = book.sheet("汇总 & <总计>", [10, 20])
    sheet.header(["名称", "数量"])
    sheet.rows([['a < b & "c"\x01', 3], [None, 2.5], [date(2026, 3, 1), True], ["  空格 "]])
    book.close()
    loaded = load_workbook(tmp_path / "t.xlsx")
    [name] = loaded.sheetnames
    rows = list(loaded[name].iter_rows(values_only=True))
    assert name == "汇总 & <总计>" and loaded[name]["A1"].font.b
    assert rows == [
        ("名称", "数量"), ('a < b & "c"', 3), (None, 2.5), (datetime(2026, 3, 1), True),
        ("  空格 ", None),
    ]  # fmt: skip


def test_column_cells_and_shared_strings_read_back_with_openpyxl(tmp_path):
    from bot.services import xlsx_stream as x

    book = x.Workbook(tmp_path / "c.xlsx")
    sheet = book.sheet("明细")
    sheet.header(["名称", "组织", "数量", "日期"])
    names = ["a < b & c", " 前后空格 ", None, "\x01", "x" * (x.CELL_MAX + 5)]
    orgs = ["赛罕区科协", "赛罕区科协", " 伊利 ", None, "赛罕区科协"]
    sheet.columns([
        x.text_cells(names), [book.shared_cell(o) for o in orgs],
        x.number_cells([1, None, 3, 0, -2]),
        [x.date_cell(x.date_serial(date(2026, 3, d))) for d in (1, 2, 3, 4, 5)],
    ])  # fmt: skip
    sheet.columns([[x.text_cell("末行")], [x.EMPTY], [x.EMPTY], [x.EMPTY]])
    book.close()
    rows = list(load_workbook(tmp_path / "c.xlsx")["明细"].iter_rows(values_only=True))
    assert rows[1:4] == [
        ("a < b & c", "赛罕区科协", 1, datetime(2026, 3, 1)),
        (" 前后空格 ", "赛罕区科协", None, datetime(2026, 3, 2)),
        (None, " 伊利 ", 3, datetime(2026, 3, 3)),
    ]
    assert rows[4] == (None, None, 0, datetime(2026, 3, 4))  # "\x01" is no XML character
    assert rows[5][0] == "x" * x.CELL_MAX and rows[5][1] == "赛罕区科协"
    assert rows[6] == ("末行", None, None, None)
    assert book._shared == {"赛罕区科协": 0, " 伊利 ": 1}  # each text stored once


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/St_Johns"])
def test_local_serials_follow_the_zone_across_its_changes(zone):
    from datetime import UTC, timedelta
    from zoneinfo import ZoneInfo

    from bot.services.exports import LocalSerials
    from bot.services.xlsx_stream import EPOCH

    tz, serials = ZoneInfo(zone), LocalSerials(ZoneInfo(zone))
    start = datetime(2026, 3, 7, tzinfo=UTC)  # St John's and Berlin move their clocks after it
    for minutes in range(0, 40 * 24 * 60, 7):
        moment = start + timedelta(minutes=minutes, seconds=13)
        wall = moment.astimezone(tz).replace(tzinfo=None)
        expected = (wall - datetime.combine(EPOCH, datetime.min.time())) / timedelta(days=1)
        assert serials.serial(int(moment.timestamp())) == pytest.approx(expected, abs=1e-9)
    assert serials.serial(None) is None


async def test_an_export_reads_a_snapshot_while_others_write(
    engine,
    sessions,
    logged,  # noqa: F811 - the fixture imported above
    tmp_path,
    monkeypatch,
):
    from zoneinfo import ZoneInfo

    from bot.services import exports
    from bot.services.stats import Period
    from storage.db import reading_factory

    monkeypatch.setattr(exports, "CHUNK", 2)
    calls = []

    async def write_meanwhile(function, *args):
        calls.append(function)
        if len(calls) == 2:  # the first chunk: the query is under way
            # On SQLite a writing transaction would wait for the export's write lock, had it
            # taken one; here the write must go through at once.
            async with asyncio.timeout(10), transaction(sessions) as other:
                other.add(activity(logged["赛罕区科协"], date(2026, 3, 10), "training", 77))
        return function(*args)

    async with transaction(reading_factory(engine)) as session:
        totals = await exports.write_activities(
            session, org=None, period=Period(date(2026, 1, 1), TODAY),
            target=tmp_path / "snapshot.xlsx", locale="zh_CN", tz=ZoneInfo("Asia/Shanghai"),
            offload=write_meanwhile,
        )  # fmt: skip
    sheet = load_workbook(tmp_path / "snapshot.xlsx")["活动明细"]
    assert totals.rows == sheet.max_row - 1 == 8  # 8 rows in 4 chunks; the new one is not in
    assert 77 not in _column(sheet, "参与人数")
    async with transaction(sessions) as session:
        assert await session.get(Activity, 11) is not None  # ... but it was written
