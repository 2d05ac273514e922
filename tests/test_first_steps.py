"""What new users tripped on (issue 17 parts 8 and 9), through the real Application.

Buttons of a form that ended, a pending applicant's /me, invite links opened by someone
already registered, and edited messages (which never run a command or a form step again).
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlmodel import func, select

from bot.common.i18n import normalize_locale, t
from bot.services import people
from offline.updates import TgUser
from storage import conversations_repo, users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.models import Role
from storage.reminder_models import PersonalReminder
from tests.harness import running_bot, sent_texts, toasts
from tests.test_activities import make_member, tree

__all__ = ["tree"]  # the fixture, shared with test_activities

LOCALES = {"zh_CN": "zh-hans", "en": "en"}


def person(user_id: int, locale: str, name: str = "小李") -> TgUser:
    return TgUser(id=user_id, first_name=name, language_code=LOCALES[locale])


async def activities(sessions) -> int:
    async with transaction(sessions) as session:
        return (await session.exec(select(func.count()).select_from(Activity))).one()


async def lecture_form(bot, user: TgUser, locale: str) -> None:
    """/log, and the lecture type picked: the form asks for the title."""
    await bot.text(user, "/log")
    await bot.press(user, t(locale, "activity.type.lecture"))


def lang(user: TgUser) -> str:
    return normalize_locale(user.language_code)


# --- buttons of a form that ended ------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_button_of_a_cancelled_form_says_it_was_cancelled(
    settings, clock, sessions, tree, locale
):
    user = person(50001, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await lecture_form(bot, user, locale)
        form = copy.deepcopy(bot.keyboard_message(user.id))
        await bot.text(user, "/cancel")
        await bot.press(user, t(locale, "form.button.cancel_yes"))
        calls = await bot.press(user, t(locale, "form.button.back"), message=form)
        assert toasts(calls) == [t(locale, "form.stale_cancelled")]
        assert [c.method for c in calls] == ["answerCallbackQuery"]
        # Another form since: an old button only says the form moved on, as before.
        await bot.text(user, "/log")
        calls = await bot.press(user, t(locale, "form.button.back"), message=form)
        assert toasts(calls) == [t(locale, "form.stale")]


@pytest.mark.parametrize("locale", LOCALES)
async def test_button_of_a_saved_form_says_it_was_saved(settings, clock, sessions, tree, locale):
    user = person(50002, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await lecture_form(bot, user, locale)
        await bot.text(user, "讲座")
        await bot.press(user, t(locale, "activity.day.today", date="").strip())
        await bot.text(user, "礼堂")
        await bot.press(user, "青山区科协")
        await bot.text(user, "50")
        await bot.press(user, t(locale, "activity.audience.youth"))
        await bot.press(user, t(locale, "form.button.done"))
        await bot.press(user, t(locale, "form.button.skip"))
        await bot.press(user, t(locale, "form.button.skip"))
        summary = copy.deepcopy(bot.keyboard_message(user.id))
        await bot.press(user, t(locale, "form.button.confirm"), message=summary)
        assert await activities(sessions) == 1
        # A second tap on the summary's confirm (a slow client, a double tap) saves nothing.
        calls = await bot.press(user, t(locale, "form.button.confirm"), message=summary)
        assert toasts(calls) == [t(locale, "form.stale_saved")]
        assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert await activities(sessions) == 1


async def test_an_older_step_of_an_open_form_still_says_it_moved_on(
    settings, clock, sessions, tree
):
    user = person(50003, "zh_CN")
    await make_member(sessions, clock, user, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(user, "/log")
        first = copy.deepcopy(bot.keyboard_message(user.id))
        await bot.press(user, "科普讲座")
        calls = await bot.press(user, "科技培训", message=first)
    assert toasts(calls) == [t("zh_CN", "form.stale")]


# --- a pending applicant's /me ---------------------------------------------------------------


async def request_access(bot, user: TgUser, name: str, org: str) -> None:
    locale = lang(user)
    await bot.text(user, "/start")
    await bot.press(user, t(locale, "start.button.request"))
    await bot.text(user, name)
    await bot.text(user, org[:2])
    await bot.press(user, org)
    await bot.press(user, t(locale, "role.liaison"))
    await bot.press(user, t(locale, "form.button.confirm"))


@pytest.mark.parametrize("locale", LOCALES)
async def test_pending_applicant_me_says_what_waits_for_whom(
    settings, clock, sessions, tree, locale
):
    admin = person(50010, "zh_CN", "包头管理员")
    await make_member(sessions, clock, admin, tree["包头市科协"], Role.ADMIN)
    async with transaction(sessions) as session:
        (await users_repo.get_user(session=session, telegram_id=admin.id)).real_name = "王管理"
    user = person(50011, locale, "Wang")
    async with running_bot(settings, clock) as bot:
        bot.api.register_chat(admin.private_chat())
        await request_access(bot, user, "Wang Wei", "青山区科协")
        sent_at = clock.now()
        clock.advance(timedelta(hours=3))
        calls = await bot.text(user, "/me")
    (text,) = sent_texts(calls)
    head = t(locale, "me.pending").splitlines()[0]
    assert text.startswith(head) and t(locale, "me.guest").splitlines()[0] not in text
    assert "Wang Wei" in text and "包头市科协 › 青山区科协" in text
    assert t(locale, "role.liaison") in text
    assert sent_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") in text
    assert t(locale, "me.reviewers", org="包头市科协", names="王管理") in text


async def test_pending_request_without_an_org_admin_names_the_superadmins(
    settings, clock, sessions, tree
):
    user = person(50012, "zh_CN", "小赵")
    async with running_bot(settings, clock) as bot:
        await request_access(bot, user, "赵六", "赛罕区科协")
        calls = await bot.text(user, "/me")
    assert t("zh_CN", "me.reviewers_superadmins") in sent_texts(calls)[0]


async def test_me_of_a_guest_without_a_request_is_unchanged(settings, clock, tree):
    user = person(50013, "en", "Guest")
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(user, "/me")
    assert sent_texts(calls)[0].startswith("You are not registered.")


# --- invite links opened by someone already registered ---------------------------------------


async def make_invite(sessions, clock, org, role=Role.ADMIN, ttl=timedelta(days=7)) -> str:
    async with transaction(sessions) as session:
        invite = await people.create_invite(
            session, org_id=org.id, role=role, now=clock.now(), ttl=ttl
        )
        return invite.code


async def member_row(sessions, user: TgUser) -> tuple:
    async with transaction(sessions) as session:
        row = await users_repo.get_user(session=session, telegram_id=user.id)
        open_form = await conversations_repo.get_state(
            session=session, chat_id=user.id, user_id=user.id
        )
        return row.org_id, row.role, row.real_name, row.registered_at, open_form


async def invite_uses(sessions, code: str) -> int:
    async with transaction(sessions) as session:
        return (await users_repo.get_invite(session=session, code=code)).used


def where(locale: str) -> dict[str, str]:
    return {"org": "内蒙古自治区科协 › 包头市科协 › 青山区科协", "role": t(locale, "role.liaison")}


@pytest.mark.parametrize("locale", LOCALES)
async def test_member_opening_a_bogus_or_expired_invite_is_told_and_unchanged(
    settings, clock, sessions, tree, locale
):
    user = person(50020, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    expired = await make_invite(sessions, clock, tree["包头市科协"], ttl=timedelta(hours=1))
    clock.advance(timedelta(hours=2))
    before = await member_row(sessions, user)
    async with running_bot(settings, clock) as bot:
        bogus = sent_texts(await bot.text(user, "/start nosuchcode"))
        late = sent_texts(await bot.text(user, f"/start {expired}"))
    registered = t(locale, "start.invite_changes_nothing", **where(locale))
    assert bogus == [f"{t(locale, 'invite.unknown')}\n{registered}"]
    assert late == [f"{t(locale, 'invite.expired')}\n{registered}"]
    assert await member_row(sessions, user) == before
    assert await invite_uses(sessions, expired) == 0


@pytest.mark.parametrize("locale", LOCALES)
async def test_member_opening_a_valid_invite_does_not_use_it(
    settings, clock, sessions, tree, locale
):
    user = person(50021, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    code = await make_invite(sessions, clock, tree["包头市科协"])
    before = await member_row(sessions, user)
    async with running_bot(settings, clock) as bot:
        (text,) = sent_texts(await bot.text(user, f"/start {code}"))
    assert text == "\n".join(
        [
            t(locale, "start.welcome_back", name="李明"),
            t(locale, "start.invite_not_used", **where(locale)),
        ]
    )
    assert await member_row(sessions, user) == before
    assert await invite_uses(sessions, code) == 0


@pytest.mark.parametrize("locale", LOCALES)
async def test_member_typing_an_invite_code_is_answered_as_start_code(
    settings, clock, sessions, tree, locale
):
    user = person(50022, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    code = await make_invite(sessions, clock, tree["包头市科协"])
    before = await member_row(sessions, user)
    async with running_bot(settings, clock) as bot:
        (by_start,) = sent_texts(await bot.text(user, f"/start {code}"))
        (by_word,) = sent_texts(await bot.text(user, f"邀请码 {code}"))
        (bare,) = sent_texts(await bot.text(user, code.upper()))
        (bogus,) = sent_texts(await bot.text(user, "invite code nosuchcode"))
        chatter = sent_texts(await bot.text(user, "strawberry"))  # code-shaped, no invite
    assert by_word == bare == by_start
    assert t(locale, "start.invite_not_used", **where(locale)) in by_start
    assert bogus.startswith(t(locale, "invite.unknown"))
    assert not any(t(locale, "invite.unknown") in text for text in chatter)
    assert await member_row(sessions, user) == before
    assert await invite_uses(sessions, code) == 0


# --- edited messages run nothing again --------------------------------------------------------

QUICK = {
    "zh_CN": "昨天在青山区社区开展科普讲座，约120人参加",
    "en": "Yesterday we gave a lecture for 120 people",
}


async def reminders(sessions, user: TgUser) -> list[str]:
    async with transaction(sessions) as session:
        query = select(PersonalReminder.text).where(PersonalReminder.chat_id == user.id)
        return list((await session.exec(query)).all())


async def form_row(sessions, user: TgUser) -> tuple[str, str, str] | None:
    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=user.id, user_id=user.id)
        return (row.flow, row.step, row.data) if row else None


def edit_note(locale: str, calls) -> None:
    assert sent_texts(calls) == [t(locale, "edit.ignored")]


@pytest.mark.parametrize("locale", LOCALES)
async def test_an_edited_remind_command_sets_no_second_reminder(
    settings, clock, sessions, tree, locale
):
    user = person(50030, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        sent = bot.factory.command(user, "/remind", "明天上午9点 提交照片")
        await bot.feed(sent)
        calls = await bot.feed(
            bot.factory.edited_message(user, sent, "/remind 明天上午10点 提交照片")
        )
    edit_note(locale, calls)
    assert await reminders(sessions, user) == ["提交照片"]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("command", [True, False], ids=["/log text", "quick log text"])
async def test_an_edited_quick_log_starts_nothing_again(
    settings, clock, sessions, tree, locale, command
):
    user = person(50031, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    text = QUICK[locale]
    async with running_bot(settings, clock) as bot:
        sent = (
            bot.factory.command(user, "/log", text) if command else bot.factory.message(user, text)
        )
        await bot.feed(sent)
        before = await form_row(sessions, user)
        assert before is not None and before[0] == "activity"
        edited = f"/log {text}，再加一场" if command else f"{text}，再加一场"
        calls = await bot.feed(bot.factory.edited_message(user, sent, edited))
    assert sent_texts(calls) == [t(locale, "form.edit_ignored")]
    assert await form_row(sessions, user) == before
    assert await activities(sessions) == 0


@pytest.mark.parametrize("locale", LOCALES)
async def test_an_edited_form_answer_changes_nothing(settings, clock, sessions, tree, locale):
    user = person(50032, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await lecture_form(bot, user, locale)
        answer = bot.factory.message(user, "讲座")
        await bot.feed(answer)
        before = await form_row(sessions, user)
        calls = await bot.feed(bot.factory.edited_message(user, answer, "培训"))
        assert sent_texts(calls) == [t(locale, "form.edit_ignored")]
        assert await form_row(sessions, user) == before
        assert '"title": "讲座"' in before[2]
        # Outside a form an edit gets the general note, and runs nothing either.
        await bot.text(user, "/cancel")
        await bot.press(user, t(locale, "form.button.cancel_yes"))
        question = bot.factory.message(user, "科普讲座要报送哪些材料？")
        calls = await bot.feed(bot.factory.edited_message(user, question, "/cancel"))
    edit_note(locale, calls)


async def test_an_edit_in_a_group_passes_unnoticed(settings, clock, sessions, tree):
    user = person(50033, "zh_CN")
    await make_member(sessions, clock, user, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group()
        sent = bot.factory.command(user, "/ask", "科普讲座", chat=group, mention=True)
        await bot.feed(sent)
        calls = await bot.feed(bot.factory.edited_message(user, sent, "/ask@stabot_test_bot 培训"))
    assert calls == []


# --- /cancel asks first, as the form's own cancel button does --------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_cancel_command_asks_before_discarding_answers(
    settings, clock, sessions, tree, locale
):
    user = person(50041, locale)
    await make_member(sessions, clock, user, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await lecture_form(bot, user, locale)
        await bot.text(user, "科普讲座进社区")
        calls = await bot.text(user, "/cancel")
        assert sent_texts(calls) == [t(locale, "form.cancel_confirm")]
        assert bot.button_texts(user.id) == [
            t(locale, "form.button.cancel_yes"),
            t(locale, "form.button.cancel_no"),
        ]
        shown = bot.last_text(user.id)
        await bot.press(user, t(locale, "form.button.cancel_no"))
        assert bot.last_text(user.id) != shown  # the question gave way to the form's step
        assert t(locale, "form.button.cancel") in bot.button_texts(user.id)
        row = await form_row(sessions, user)
        assert row is not None and '"title": "科普讲座进社区"' in row[2]
        await bot.text(user, "/cancel")
        calls = await bot.press(user, t(locale, "form.button.cancel_yes"))
        assert sent_texts(calls) == [t(locale, "form.cancelled")]
        calls = await bot.text(user, "/cancel")
        assert sent_texts(calls) == [t(locale, "cancel.nothing")]


async def test_cancel_command_twice_or_on_an_empty_form_cancels_at_once(
    settings, clock, sessions, tree
):
    user = person(50042, "zh_CN")
    await make_member(sessions, clock, user, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(user, "/log")
        calls = await bot.text(user, "/cancel")  # nothing entered yet: nothing to lose
        assert sent_texts(calls) == [t("zh_CN", "form.cancelled")]
        await lecture_form(bot, user, "zh_CN")
        await bot.text(user, "/cancel")
        calls = await bot.text(user, "/cancel")  # asked, and insisted
        assert sent_texts(calls) == [t("zh_CN", "form.cancelled")]
