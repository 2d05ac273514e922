"""The ``stabot`` command line, run in-process against the test database."""

from __future__ import annotations

import re

import pytest

from bot.cli import main
from storage import orgs_repo, users_repo
from storage.db import transaction
from storage.models import OrgLevel, Role


@pytest.fixture
def cli_env(monkeypatch, database_url, engine, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BOT_USERNAME", "stabot_demo_bot")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout


def test_run_without_token_exits_2_with_one_line(cli_env, capsys):
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "BOT_TOKEN" in err[0]


def test_a_second_run_on_one_sqlite_database_says_so_and_exits(
    cli_env, capsys, monkeypatch, tmp_path
):
    import fcntl

    database = tmp_path / "bot.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("BOT_TOKEN", "123456:cli-test")
    with open(f"{database}.run-lock", "w") as running:  # the first `stabot run` holds it
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert str(database) in err and "PostgreSQL" in err


def test_org_tree_invite_and_admin(cli_env, capsys, tmp_path):
    assert main(["org", "add", "内蒙古自治区科协", "--level", "省级"]) == 0
    assert main(["org", "add", "包头市科协", "--level", "city", "--parent", "1"]) == 0
    csv_file = tmp_path / "tree.csv"
    csv_file.write_text("名称,层级,上级\n青山区科协,县级,包头市科协\n包钢集团科协,企业,青山区科协\n"
                        "包头市科协,市级,内蒙古自治区科协\n", encoding="utf-8")
    assert main(["org", "import", str(csv_file)]) == 0
    assert "新建 2 个，已存在 1 个" in capsys.readouterr().out
    assert main(["org", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[-1].startswith("      4\t包钢集团科协\tenterprise")
    assert main(["invite", "create", "--org", "3", "--role", "liaison", "--uses", "5",
                 "--expires", "12h"]) == 0
    link = capsys.readouterr().out.strip()
    assert re.fullmatch(r"https://t\.me/stabot_demo_bot\?start=[a-z2-9]{10}", link)
    assert main(["admin", "grant", "555", "--org", "2"]) == 0


async def test_cli_changes_are_in_the_database(cli_env, sessions):
    # Runs the CLI in a worker thread, since each command has its own event loop.
    import asyncio

    assert await asyncio.to_thread(main, ["org", "add", "呼和浩特市科协", "--level", "市级"]) == 0
    assert await asyncio.to_thread(main, ["admin", "grant", "777", "--org", "1"]) == 0
    async with transaction(sessions) as session:
        org = await orgs_repo.get_org(session=session, org_id=1)
        user = await users_repo.get_user(session=session, telegram_id=777)
    assert (org.name, org.level, org.path) == ("呼和浩特市科协", OrgLevel.CITY, "/1/")
    assert (user.role, user.org_id) == (Role.ADMIN, 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["org", "add", "X", "--level", "星球"], "无法识别的层级"),
        (["org", "add", "X", "--level", "city", "--parent", "99"], "找不到编号为 99 的组织"),
        (["invite", "create", "--org", "99", "--role", "admin"], "找不到编号为 99 的组织"),
        (["invite", "create", "--org", "1", "--role", "admin", "--expires", "soon"], "无法识别"),
        (["invite", "create", "--org", "1", "--role", "admin", "--uses", "0"], "使用次数"),
        (["admin", "grant", "1", "--org", "42"], "找不到编号为 42 的组织"),
    ],
)
def test_bad_arguments_are_refused(cli_env, capsys, argv, message):
    main(["org", "add", "根", "--level", "省级"])
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_import_with_unknown_parent_changes_nothing(cli_env, capsys, tmp_path):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("甲科协,市级,\n乙科协,县级,不存在的科协\n", encoding="utf-8")
    assert main(["org", "import", str(csv_file)]) == 1
    assert "不存在的科协" in capsys.readouterr().err
    main(["org", "list"])
    assert capsys.readouterr().out == ""


def test_demo_data_prints_invites(cli_env, capsys):
    assert main(["demo-data"]) == 0
    out = capsys.readouterr().out
    assert out.count("https://t.me/stabot_demo_bot?start=") == 3
    assert "/start " in out
