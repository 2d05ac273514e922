"""The form engine on its own: registration and access request, driven with inputs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.common.clock import FrozenClock
from bot.flows import engine
from bot.flows.access_request import AccessRequestForm
from bot.flows.base import (
    Action,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Input,
    InputKind,
    Reply,
)
from bot.flows.callback_data import FormButton
from bot.flows.registration import RegistrationForm
from bot.services import orgs, people
from storage import conversations_repo, users_repo
from storage.db import SessionFactory, transaction
from storage.models import Role

CHAT = USER = 4242
FORMS = engine.by_name([RegistrationForm(), AccessRequestForm()])


@asynccontextmanager
async def flow_ctx(sessions: SessionFactory, clock: FrozenClock) -> AsyncIterator[FlowContext]:
    async with transaction(sessions) as session:
        actor = await users_repo.upsert_user(
            session=session, telegram_id=USER, username="li", now=clock.now()
        )
        yield FlowContext(
            session=session,
            now=clock.now(),
            tz=clock.now().tzinfo,
            chat_id=CHAT,
            user_id=USER,
            actor=actor,
            forms=FORMS,
        )


async def _setup_invite(sessions: SessionFactory, clock: FrozenClock) -> int:
    async with transaction(sessions) as session:
        tree = await orgs.create_demo_tree(session, now=clock.now())
        invite = await people.create_invite(
            session, org_id=tree[3].id, role=Role.LIAISON, now=clock.now()
        )
        return invite.id


async def send(sessions, clock, inp: Input) -> Reply:
    async with flow_ctx(sessions, clock) as ctx:
        reply = await engine.handle(ctx, inp)
    assert reply is not None
    return reply


def press(reply: Reply, action: Action, arg: str = "") -> Input:
    """The input of pressing the reply's button with this action."""
    for row in reply.buttons:
        for button in row:
            pressed = FormButton.find(button.data)
            if pressed is not None and (pressed.action, pressed.arg) == (action, arg):
                return Input(InputKind.ACTION, action=action, arg=arg, token=pressed.token)
    raise AssertionError(f"no button {action} {arg} in {reply.buttons}")


async def _start(sessions, clock) -> Reply:
    invite_id = await _setup_invite(sessions, clock)
    async with flow_ctx(sessions, clock) as ctx:
        return await engine.start(
            ctx,
            RegistrationForm.name,
            extra={"invite_id": invite_id, "org_path": "A › B", "role": "liaison"},
        )


async def test_registration_walks_to_confirm(sessions, clock):
    reply = await _start(sessions, clock)
    assert reply.texts[-1].key == "register.ask_org"
    reply = await send(sessions, clock, press(reply, Action.CHOICE, "0"))
    assert reply.texts[-1].key == "register.ask_name"
    reply = await send(sessions, clock, Input(InputKind.TEXT, "  王  小明 "))
    assert reply.texts[0].key == "register.summary"
    reply = await send(sessions, clock, press(reply, Action.CONFIRM))
    assert reply.finished and reply.texts[0].key == "register.done"
    async with transaction(sessions) as session:
        user = await users_repo.get_user(session=session, telegram_id=USER)
        assert (user.real_name, user.role) == ("王 小明", Role.LIAISON)
        assert (
            await conversations_repo.get_state(session=session, chat_id=CHAT, user_id=USER) is None
        )


async def test_bad_names_repeat_the_step(sessions, clock):
    reply = await _start(sessions, clock)
    await send(sessions, clock, press(reply, Action.CHOICE, "0"))
    for text, key in (
        ("", "register.bad_name_length"),
        ("王" * 200, "register.bad_name_length"),
        ("12345", "register.bad_name"),
    ):
        reply = await send(sessions, clock, Input(InputKind.TEXT, text))
        assert [m.key for m in reply.texts] == [key, "register.ask_name"]
    reply = await send(sessions, clock, Input(InputKind.STICKER))
    assert reply.texts[0].key == "form.expect_text"


async def test_old_button_is_refused(sessions, clock):
    first = await _start(sessions, clock)
    old = press(first, Action.CHOICE, "0")
    await send(sessions, clock, old)
    reply = await send(sessions, clock, old)
    assert reply.toast.key == "form.stale" and not reply.texts


async def test_back_edit_and_cancel(sessions, clock):
    reply = await _start(sessions, clock)
    reply = await send(sessions, clock, press(reply, Action.CHOICE, "0"))
    reply = await send(sessions, clock, press(reply, Action.BACK))
    assert reply.texts[-1].key == "register.ask_org"
    reply = await send(sessions, clock, press(reply, Action.CHOICE, "0"))
    summary = await send(sessions, clock, Input(InputKind.TEXT, "李四"))
    reply = await send(sessions, clock, press(summary, Action.EDIT, "real_name"))
    assert reply.texts[-1].key == "register.ask_name"
    summary = await send(sessions, clock, Input(InputKind.TEXT, "李四光"))
    assert any(m.params.get("value") == "李四光" for m in summary.texts)
    ask = await send(sessions, clock, press(summary, Action.CANCEL))
    assert ask.texts[0].key == "form.cancel_confirm"
    done = await send(sessions, clock, press(ask, Action.CANCEL_YES))
    assert done.finished and done.texts[0].key == "form.cancelled"


async def test_wrong_org_stops_registration(sessions, clock):
    reply = await _start(sessions, clock)
    reply = await send(sessions, clock, press(reply, Action.CHOICE, "1"))
    assert reply.finished and reply.texts[0].key == "register.org_wrong"


def test_machine_has_no_auto_transitions():
    machine = RegistrationForm.machine()
    assert "to_summary" not in machine.events
    assert set(machine.events) == {"advance", "back", "edit", "confirm", "cancel"}


class _Trip(FormSpec):
    """Three steps; the middle one only for a train, the last one counted again every time."""

    name = "trip_test"
    fields = (
        FieldSpec("mode", prompt="p", label="l"),
        FieldSpec("train", prompt="p", label="l", when=lambda d: d.get("mode") == "train"),
        FieldSpec("note", prompt="p", label="l"),
        FieldSpec("count", prompt="p", label="l", revisit=True),
    )


async def _moved(data: dict, step: str, trigger: str, **flags) -> tuple[str, FormModel]:
    model = FormModel(_Trip(), {"data": data, **flags})
    machine = _Trip.machine()
    machine.add_model(model, initial=step)
    try:
        await model.trigger(trigger, **({"step": flags["edit"]} if "edit" in flags else {}))
    finally:
        machine.remove_model(model)
    return model.state, model


async def test_advance_and_back_follow_the_steps_that_apply():
    assert (await _moved({"mode": "bus"}, "mode", "advance"))[0] == "note"
    assert (await _moved({"mode": "train"}, "mode", "advance"))[0] == "train"
    assert (await _moved({"mode": "bus"}, "note", "back"))[0] == "mode"
    assert (await _moved({"mode": "train"}, "note", "back"))[0] == "train"
    assert (await _moved({"mode": "bus"}, "summary", "back"))[0] == "count"


async def test_editing_passes_answered_steps_but_not_a_revisited_one():
    answered = {"mode": "bus", "note": "n", "count": 3}
    state, model = await _moved(answered, "summary", "edit", edit="mode")
    assert (state, model.editing) == ("mode", True)
    state, model = await _moved(answered, "mode", "advance", editing=True)
    assert (state, model.editing) == ("count", True)  # note answered; count is asked again
    state, model = await _moved(answered, "count", "advance", editing=True)
    assert (state, model.editing) == ("summary", False)
    state, model = await _moved({**answered, "mode": "train"}, "mode", "advance", editing=True)
    assert state == "train"  # a step the new answer brought in is asked
    assert (await _moved(answered, "note", "back", editing=True))[0] == "summary"


async def test_back_from_the_first_step_goes_nowhere():
    state, _ = await _moved({}, "mode", "back")
    assert state == "mode"


def test_the_app_lists_every_form_once_and_nothing_registers_itself():
    import importlib
    import pkgutil

    import bot.flows
    from bot.app import FORMS as APP_FORMS

    for module in pkgutil.iter_modules(bot.flows.__path__):
        importlib.import_module(f"bot.flows.{module.name}")
    declared = {cls for cls in _subclasses(FormSpec) if cls.__module__.startswith("bot.flows.")}
    listed = [type(form) for form in APP_FORMS]
    assert sorted(map(str, listed)) == sorted(map(str, declared))
    assert len(engine.by_name(APP_FORMS)) == len(APP_FORMS)
    assert not hasattr(engine, "FORMS")


def _subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_subclasses(direct)}}
