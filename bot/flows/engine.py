"""Runs forms: loads the state, feeds one input through the machine, saves, returns a view."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows.base import (
    CANCELLED,
    DONE,
    SUMMARY,
    Action,
    Button,
    Choice,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Input,
    InputKind,
    Invalid,
    Label,
    Msg,
    Options,
    Reply,
    button_number,
)
from bot.flows.callback_data import FormButton
from bot.flows.labels import render_label
from bot.services import when
from bot.services.short_answers import (
    Nav,
    asks_about_step,
    button_key,
    navigation_word,
    says_nothing,
    yes_or_no,
)
from storage import conversations_repo as repo
from storage.conversations_repo import FormRow

# What a button of a form that ended says: confirmed (its answers were saved), or cancelled.
ENDED_TOASTS = {DONE: "form.stale_saved", CANCELLED: "form.stale_cancelled"}
# What the current update saved last, as (chat_id, user_id, flow, JSON): remember_message
# patches the message id into it with one UPDATE instead of reading the row back. It is only
# a hint; the UPDATE applies only while the row still holds exactly that JSON.
_SAVED: ContextVar[tuple[int, int, str, str] | None] = ContextVar("stabot_saved", default=None)


def by_name(forms: Iterable[FormSpec]) -> dict[str, FormSpec]:
    """The forms the application runs, by the name their stored state carries."""
    known: dict[str, FormSpec] = {}
    for form in forms:
        if form.name in known:
            raise ValueError(f"two forms are named {form.name!r}")
        known[form.name] = form
    return known


def _button(model: FormModel, label: Label, action: Action, arg: str = "") -> Button:
    return Button(label, FormButton(model.token, action, arg).pack())


def _label_from_json(raw: Any) -> Label:
    return Msg.from_json(raw) if isinstance(raw, dict) else str(raw)


def _label_to_json(label: Label) -> Any:
    return label.to_json() if isinstance(label, Msg) else label


@dataclass(frozen=True)
class OpenForm:
    """A user's unfinished form as others may read it: which form, its answers, its context.

    ``row`` is the engine's own handle (passed back to `end`, so ending costs no second read).
    """

    name: str
    step: str
    answers: dict[str, Any]
    extra: dict[str, Any]  # what the form was started with (``start(extra=…)``)
    row: FormRow = field(repr=False)


async def open_form(ctx: FlowContext) -> OpenForm | None:
    """The user's unfinished form in this chat, if any."""
    row = await repo.get_state(session=ctx.session, chat_id=ctx.chat_id, user_id=ctx.user_id)
    if row is None:
        return None
    raw = _loads(row.data)
    return OpenForm(row.flow, row.step, raw.get("data", {}), raw.get("ctx", {}), row)


async def active_flow(ctx: FlowContext) -> str | None:
    """The name of the user's unfinished form in this chat, if any."""
    return await open_flow_in(ctx.session, chat_id=ctx.chat_id, user_id=ctx.user_id)


async def open_flow_in(session: AsyncSession, *, chat_id: int, user_id: int) -> str | None:
    """The name of the unfinished form of a user in a chat (for a handler without a unit)."""
    row = await repo.get_state(session=session, chat_id=chat_id, user_id=user_id)
    return row.flow if row else None


async def holds_answers(ctx: FlowContext) -> bool:
    """Whether the user's unfinished form has answers that starting another would discard."""
    row = await repo.get_state(session=ctx.session, chat_id=ctx.chat_id, user_id=ctx.user_id)
    if row is None or row.flow not in ctx.forms:
        return False
    return FormModel(ctx.forms[row.flow], _loads(row.data)).has_answers()


async def start(
    ctx: FlowContext,
    name: str,
    *,
    data: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    notices: list[Msg] | None = None,
    fill_missing: bool = False,
) -> Reply:
    """Begin form ``name`` (replacing any other), pre-filled with ``data``.

    ``fill_missing``: steps already answered in ``data`` are passed over on the way to the
    summary, where they can still be edited.
    """
    form = ctx.forms[name]
    raw = {"data": dict(data or {}), "ctx": dict(extra or {}), "fill_missing": fill_missing}
    model = FormModel(form, raw)
    with _attached(form, model, form.steps()[0]):
        first = form.fields[0]
        if not first.applies(model.data) or first.name in model.data:
            await model.trigger("advance")
        reply = await render(form, ctx, model, list(notices or []))
        await _save(ctx, form, model)
    return reply


@contextmanager
def _attached(form: FormSpec, model: FormModel, step: str) -> Iterator[None]:
    """The model in its form's machine at ``step`` for one update (the machine is shared)."""
    machine = form.machine()
    machine.add_model(model, initial=step)
    try:
        yield
    finally:
        machine.remove_model(model)


async def handle(ctx: FlowContext, inp: Input) -> Reply | None:
    """Feed one input to the user's active form; None when no form is active.

    A button of a form that ended is answered with what became of it (saved, cancelled); the
    row read to find the open form tells, so this costs no query of its own.
    """
    row = await repo.get_last(session=ctx.session, chat_id=ctx.chat_id, user_id=ctx.user_id)
    if row is None or row.flow not in ctx.forms:
        return None
    if repo.has_ended(row):
        return _ended_form_button(row, inp)
    form = ctx.forms[row.flow]
    model = FormModel(form, _loads(row.data))
    if inp.kind is InputKind.ACTION and inp.token != model.token:
        return Reply([], toast=Msg("form.stale"))
    with _attached(form, model, row.step):
        reply = await _dispatch(form, ctx, model, inp)
        if model.state in (DONE, CANCELLED):
            await _end(ctx, form.name, model.instance, model.state, row)
            if inp.kind is not InputKind.ACTION:
                _retire_form_message(ctx, model, reply)
        else:
            await _save(ctx, form, model, row)
    return reply


def _retire_form_message(ctx: FlowContext, model: FormModel, reply: Reply) -> None:
    """A form ended by a typed answer (是的 at its question): the answer is a new message, so
    the form's last message is named as the one whose keyboard goes."""
    ctx.saved_form_message = [model.message_id]
    reply.form_view = True


def _ended_form_button(row: FormRow, inp: Input) -> Reply | None:
    """The toast for a button of the form that ended last; None for anything else."""
    instance = _loads(row.data).get("instance")
    if (
        inp.kind is not InputKind.ACTION
        or not instance
        or not (inp.token or "").startswith(instance)
    ):
        return None  # typed text, or a button of an older form: as if no form were open
    return Reply([], toast=Msg(ENDED_TOASTS[row.step]))


async def _end(
    ctx: FlowContext, flow: str, instance: str, step: str, row: FormRow | None
) -> None:
    """Replace the form's state by its end marker: the instance its buttons carry, no answers."""
    await repo.save_state(
        session=ctx.session,
        chat_id=ctx.chat_id,
        user_id=ctx.user_id,
        flow=flow,
        step=step,
        data=json.dumps({"instance": instance}),
        now=ctx.now,
        loaded=row,
    )


async def end(ctx: FlowContext, form: OpenForm) -> None:
    """End the open form as done, outside its machine (a picker answered by a handler)."""
    instance = _loads(form.row.data).get("instance") or ""
    await _end(ctx, form.name, instance, DONE, form.row)


async def remember_message(
    session: AsyncSession,
    forms: Mapping[str, FormSpec],
    *,
    chat_id: int,
    user_id: int,
    message_id: int,
) -> None:
    """Note which message shows the form now, so a later button press can edit it."""
    saved = _SAVED.get()
    if saved is not None and saved[:2] == (chat_id, user_id) and saved[2] in forms:
        raw = _loads(saved[3])
        raw["message_id"] = message_id
        data = FormModel(forms[saved[2]], raw).to_json()
        if await repo.replace_data(
            session=session, chat_id=chat_id, user_id=user_id, old=saved[3], new=data
        ):
            _SAVED.set((chat_id, user_id, saved[2], data))
            return
    row = await repo.get_state(session=session, chat_id=chat_id, user_id=user_id)
    if row is None or row.flow not in forms:
        return
    raw = _loads(row.data)
    raw["message_id"] = message_id
    data = FormModel(forms[row.flow], raw).to_json()
    await repo.replace_data(
        session=session, chat_id=chat_id, user_id=user_id, old=row.data, new=data
    )


async def form_message_id(ctx: FlowContext) -> int | None:
    """The message currently showing the user's form."""
    if ctx.saved_form_message is not None:
        return ctx.saved_form_message[0]
    row = await repo.get_state(session=ctx.session, chat_id=ctx.chat_id, user_id=ctx.user_id)
    return _loads(row.data).get("message_id") if row else None


async def cancel(ctx: FlowContext, *, ask_first: bool = False) -> Reply | None:
    """Cancel the active form; None when there is none.

    ``ask_first`` (the /cancel command): a form holding answers asks to confirm, as its own
    cancel button does; a second /cancel while that question stands cancels.
    """
    row = await repo.get_state(session=ctx.session, chat_id=ctx.chat_id, user_id=ctx.user_id)
    if row is None:
        return None
    form = ctx.forms.get(row.flow)
    model = FormModel(form, _loads(row.data)) if form is not None else None
    if ask_first and model is not None and model.has_answers() and not model.pending_cancel:
        return await _confirm_cancel(ctx, form, model, row)
    await _end(ctx, row.flow, _loads(row.data).get("instance") or "", CANCELLED, row)
    if form is None or model is None:
        return Reply([Msg("form.cancelled")], finished=True)
    return await form.on_cancel(ctx, model)


async def _confirm_cancel(
    ctx: FlowContext, form: FormSpec, model: FormModel, row: FormRow
) -> Reply:
    """The keep / discard question in a new message; the form's older buttons go stale."""
    model.counter += 1
    with _attached(form, model, row.step):
        reply = _cancel_question(model)
        await _save(ctx, form, model, row)
    reply.edit = False
    return reply


async def current_view(ctx: FlowContext, notices: list[Msg] | None = None) -> Reply | None:
    """The active form's current step again (after an interruption)."""
    row = await repo.get_state(session=ctx.session, chat_id=ctx.chat_id, user_id=ctx.user_id)
    if row is None or row.flow not in ctx.forms:
        return None
    form = ctx.forms[row.flow]
    model = FormModel(form, _loads(row.data))
    with _attached(form, model, row.step):
        reply = await render(form, ctx, model, list(notices or []))
        await _save(ctx, form, model, row)
    return reply


def _loads(data: str) -> dict[str, Any]:
    return json.loads(data)


async def _save(
    ctx: FlowContext, form: FormSpec, model: FormModel, row: FormRow | None = None
) -> None:
    data = model.to_json()
    await repo.save_state(
        session=ctx.session,
        chat_id=ctx.chat_id,
        user_id=ctx.user_id,
        flow=form.name,
        step=model.state,
        data=data,
        now=ctx.now,
        loaded=row,
    )
    ctx.saved_form_message = [model.message_id]
    _SAVED.set((ctx.chat_id, ctx.user_id, form.name, data))


# --- one input -------------------------------------------------------------------------------


async def _dispatch(form: FormSpec, ctx: FlowContext, model: FormModel, inp: Input) -> Reply:
    model.counter += 1
    action = inp.action
    if model.pending_cancel and action is None:
        # Whatever is sent while "discard what you entered?" stands answers that question
        # and never the step behind it.
        return await _typed_at_cancel_question(form, ctx, model, inp)
    if model.pending_cancel and action not in (Action.CANCEL_YES, Action.CANCEL_NO):
        model.pending_cancel = False
    if action is Action.CANCEL:
        return await _on_cancel(form, ctx, model)
    if action is Action.CANCEL_YES:
        await model.trigger("cancel")
        return _as_edit(await form.on_cancel(ctx, model))
    if action is Action.CANCEL_NO:
        model.pending_cancel = False
        return _as_edit(await render(form, ctx, model, []))
    if action is Action.BACK:
        return _as_edit(await _on_back(form, ctx, model))
    if inp.kind is InputKind.TEXT:
        pressed = await _typed_button(form, ctx, model, inp.text)
        if pressed is not None:
            return pressed
    if model.state == SUMMARY:
        return await _on_summary(form, ctx, model, inp)
    spec = form.field(model.state)
    if action is Action.SKIP:
        return _as_edit(await _on_skip(form, ctx, model, spec))
    if action is Action.CHOICE:
        return _as_edit(await _on_choice(form, ctx, model, spec, inp.arg))
    if action is Action.DONE:
        return _as_edit(await _on_done(form, ctx, model, spec))
    if action is not None:
        return await render(form, ctx, model, [])
    return await _on_typed(form, ctx, model, spec, inp)


async def _typed_button(
    form: FormSpec, ctx: FlowContext, model: FormModel, text: str
) -> Reply | None:
    """A typed message that names a button of the view, as that button pressed: a navigation
    word (上一步, 取消, at a step that moves on with a button 下一栏 / 完成) or a button's own
    label (青少年 at the audience step). None for anything else: an answer, never saved as one
    of these words."""
    nav = navigation_word(text)
    if nav is Nav.BACK:
        return await _on_back(form, ctx, model)
    if nav is Nav.CANCEL:
        return _as_new(await _on_cancel(form, ctx, model))  # as /cancel: asks when answered
    pressed = await _labelled_button(form, ctx, model, text)
    if pressed is not None:
        return await _dispatch(form, ctx, model, pressed)
    if nav is Nav.NEXT and model.state != SUMMARY:
        spec = form.field(model.state)
        if spec.multi or spec.collect:
            return await _on_done(form, ctx, model, spec)
        if spec.next_choice is not None:
            return await _pick_value(form, ctx, model, spec, spec.next_choice)
    return None


async def _labelled_button(
    form: FormSpec, ctx: FlowContext, model: FormModel, text: str
) -> Input | None:
    """The button of the current view whose label is the typed text, as its press."""
    typed = button_key(text)
    if not typed:
        return None
    for row in await _view_buttons(form, model):
        for button in row:
            if button_key(render_label(ctx.locale, button.label, markup=False)) == typed:
                data = FormButton.parse(button.data)
                return Input(InputKind.ACTION, action=data.action, arg=data.arg, token=data.token)
    return None


async def _view_buttons(form: FormSpec, model: FormModel) -> list[list[Button]]:
    """The buttons the current view shows (the choices as last shown)."""
    if model.state == SUMMARY:
        return _summary(form, model, []).buttons
    spec = form.field(model.state)
    return [*_choice_rows(model, spec), await _nav_row(model, spec)]


def _as_new(reply: Reply) -> Reply:
    """A reply to a typed message: a new message under it, not an edit of the form's."""
    reply.edit = False
    return reply


def _as_edit(reply: Reply) -> Reply:
    reply.edit = True
    return reply


async def _on_cancel(form: FormSpec, ctx: FlowContext, model: FormModel) -> Reply:
    if not model.has_answers():
        await model.trigger("cancel")
        return _as_edit(await form.on_cancel(ctx, model))
    return _cancel_question(model)


# Typed at "discard what you entered?": these words say yes or no there besides the shared ones
# (the buttons' own words, 确定取消 and 继续填写, typed out).
_DISCARD_YES = frozenset({"确定取消", "放弃", "不填了", "不要了", "discard", "yes, cancel"})
_DISCARD_NO = frozenset({"继续", "继续填", "继续填写", "keep going", "continue", "go on"})


def _discard_answer(text: str) -> bool | None:
    """A typed answer to the cancel question: True to discard, False to keep going."""
    plain = text.strip().strip("。.!！").lower()
    if plain in _DISCARD_YES:
        return True
    if plain in _DISCARD_NO:
        return False
    return yes_or_no(text)


async def _typed_at_cancel_question(
    form: FormSpec, ctx: FlowContext, model: FormModel, inp: Input
) -> Reply:
    answer = _discard_answer(inp.text) if inp.kind is InputKind.TEXT else None
    if answer is True:
        await model.trigger("cancel")
        return await form.on_cancel(ctx, model)
    if answer is False:
        model.pending_cancel = False
        return await render(form, ctx, model, [Msg("form.cancel_kept")])
    reply = _cancel_question(model)
    reply.texts.insert(0, Msg("form.cancel_answer_yes_no"))
    reply.edit = False  # a reminder under the user's message, the question with it
    return reply


def _cancel_question(model: FormModel) -> Reply:
    """Discard what was entered? (yes / keep going)."""
    model.pending_cancel = True
    buttons = [
        [
            _button(model, Msg("form.button.cancel_yes"), Action.CANCEL_YES),
            _button(model, Msg("form.button.cancel_no"), Action.CANCEL_NO),
        ]
    ]
    return Reply([Msg("form.cancel_confirm")], buttons, edit=True, form_view=True)


async def _on_back(form: FormSpec, ctx: FlowContext, model: FormModel) -> Reply:
    if not await model.trigger("back"):  # the first step: no transition's conditions hold
        return await render(form, ctx, model, [Msg("form.no_back")])
    return await render(form, ctx, model, [])


async def _on_summary(form: FormSpec, ctx: FlowContext, model: FormModel, inp: Input) -> Reply:
    if inp.action is Action.CONFIRM:
        _drop_inapplicable(form, model)
        await model.trigger("confirm")
        reply = await form.on_confirm(ctx, model)
        reply.finished = True
        return _as_edit(reply)
    if inp.action is Action.EDIT and await model.trigger("edit", step=inp.arg):
        return _as_edit(await render(form, ctx, model, []))
    typed = yes_or_no(inp.text) if inp.kind is InputKind.TEXT else None
    if typed is True:  # 是的 / 确定 / ok under "please check": as the confirm button
        return await _on_summary(form, ctx, model, Input(InputKind.ACTION, action=Action.CONFIRM))
    notice = "form.summary_typed_no" if typed is False else "form.use_buttons"
    return await render(form, ctx, model, [Msg(notice)])


def _drop_inapplicable(form: FormSpec, model: FormModel) -> None:
    for spec in form.fields:
        if not spec.applies(model.data):
            model.data.pop(spec.name, None)


async def _on_skip(form: FormSpec, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> Reply:
    if not spec.optional:
        return await render(form, ctx, model, [Msg("form.not_optional")])
    model.data[spec.name] = [] if (spec.multi or spec.collect) else None
    return await _advance(form, ctx, model)


async def _on_choice(
    form: FormSpec, ctx: FlowContext, model: FormModel, spec: FieldSpec, arg: str
) -> Reply:
    index = button_number(arg, -1)
    if not 0 <= index < len(model.options):
        return await render(form, ctx, model, [])
    value = model.options[index]["v"]
    if value in spec.abort:
        await model.trigger("cancel")
        return Reply([Msg(spec.abort[value])], finished=True)
    if spec.multi:
        chosen = list(model.data.get(spec.name) or [])
        chosen.remove(value) if value in chosen else chosen.append(value)
        model.data[spec.name] = chosen
        return await render(form, ctx, model, [], keep_options=True)
    model.data[spec.name] = value
    model.ctx.setdefault("labels", {})[spec.name] = model.options[index]["l"]
    return await _advance(form, ctx, model)


async def _on_done(form: FormSpec, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> Reply:
    if not (spec.multi or spec.collect):
        return await render(form, ctx, model, [])
    if not model.data.get(spec.name) and not spec.optional:
        return await render(form, ctx, model, [Msg("form.pick_at_least_one")], keep_options=True)
    model.data.setdefault(spec.name, [])
    return await _advance(form, ctx, model)


async def _on_typed(
    form: FormSpec, ctx: FlowContext, model: FormModel, spec: FieldSpec, inp: Input
) -> Reply:
    if inp.kind is InputKind.TEXT:
        read = await _read_short_answer(form, ctx, model, spec, inp.text)
        if read is not None:
            return read
    return await _parse_typed(form, ctx, model, spec, inp)


async def _read_short_answer(
    form: FormSpec, ctx: FlowContext, model: FormModel, spec: FieldSpec, text: str
) -> Reply | None:
    """What a short typed text means at a step before any parser sees it: a yes / no that
    picks a button, "nothing" at an optional step, or a question about the step; None when it
    is none of them (an answer for the parser)."""
    answer = yes_or_no(text) if spec.typed_yes_no else None
    if answer is not None and answer in spec.typed_yes_no:
        return await _pick_value(form, ctx, model, spec, spec.typed_yes_no[answer])
    if spec.optional and says_nothing(text):
        if spec.collect and model.data.get(spec.name):
            return await _on_done(form, ctx, model, spec)  # 没有了 after some photos: done
        return await _on_skip(form, ctx, model, spec)
    if asks_about_step(text):
        help_msg = Msg(spec.help) if spec.help else Msg("form.step_help", label=Msg(spec.label))
        return await render(form, ctx, model, [help_msg], keep_options=spec.multi)
    return None


async def _pick_value(
    form: FormSpec, ctx: FlowContext, model: FormModel, spec: FieldSpec, value: Any
) -> Reply:
    """The choice button holding ``value``, as if pressed (a typed yes at a yes / no step)."""
    values = [option["v"] for option in model.options]
    if value not in values:
        return await render(form, ctx, model, [Msg("form.use_buttons")], keep_options=True)
    return await _on_choice(form, ctx, model, spec, str(values.index(value)))


async def _parse_typed(
    form: FormSpec, ctx: FlowContext, model: FormModel, spec: FieldSpec, inp: Input
) -> Reply:
    if spec.parse is None:
        return await render(form, ctx, model, [Msg("form.use_buttons")], keep_options=True)
    try:
        value = await spec.parse(inp, ctx, model)
    except Invalid as refusal:
        return await render(form, ctx, model, [refusal.msg], keep_options=spec.multi)
    if isinstance(value, Options):
        return await render(
            form, ctx, model, [value.notice] if value.notice else [], choices=value.choices
        )
    if spec.collect:
        return await _collect(form, ctx, model, spec, value)
    model.data[spec.name] = value
    return await _advance(form, ctx, model)


async def _collect(
    form: FormSpec, ctx: FlowContext, model: FormModel, spec: FieldSpec, value: Any
) -> Reply:
    items = list(model.data.get(spec.name) or [])
    if len(items) >= spec.collect:
        return await render(form, ctx, model, [Msg("form.too_many", limit=spec.collect)])
    items.append(value)
    model.data[spec.name] = items
    if len(items) >= spec.collect and not spec.stay_when_full:
        return await _advance(form, ctx, model)
    return await render(
        form, ctx, model, [Msg("form.collected", count=len(items), limit=spec.collect)]
    )


async def _advance(form: FormSpec, ctx: FlowContext, model: FormModel) -> Reply:
    await model.trigger("advance")
    if model.state == SUMMARY and form.confirm_at_once(model):
        return await _on_summary(form, ctx, model, Input(InputKind.ACTION, action=Action.CONFIRM))
    return await render(form, ctx, model, [])


# --- views -----------------------------------------------------------------------------------


async def render(
    form: FormSpec,
    ctx: FlowContext,
    model: FormModel,
    notices: list[Msg],
    *,
    choices: list[Choice] | None = None,
    keep_options: bool = False,
) -> Reply:
    """The view of the model's current step, after any notices."""
    if model.state == SUMMARY:
        await form.prepare_summary(ctx, model)
        return _summary(form, model, notices)
    spec = form.field(model.state)
    if choices is None and not (keep_options and model.options):
        choices = await _choices_of(spec, ctx, model)
    if choices is not None:
        model.options = [{"v": c.value, "l": _label_to_json(c.label)} for c in choices]
    elif not keep_options:
        model.options = []
    # Every prompt may show example dates; they follow today, so none is long past.
    today = when.today_in(ctx.now, ctx.tz)
    read = await spec.prompt_from(ctx, model) if spec.prompt_from else {}
    params = {**when.examples(today), **spec.params, **read}
    params.update(form.prompt_params(ctx, model, spec))
    texts = [*notices, Msg(spec.prompt, params)]
    rows = [*_choice_rows(model, spec), await _nav_row(model, spec)]
    return Reply(texts, rows, form_view=True)


async def _choices_of(spec: FieldSpec, ctx: FlowContext, model: FormModel) -> list[Choice] | None:
    if spec.choices is None:
        return None
    if callable(spec.choices):
        return await spec.choices(ctx, model)
    return list(spec.choices)


def _choice_rows(model: FormModel, spec: FieldSpec) -> list[list[Button]]:
    chosen = model.data.get(spec.name) if spec.multi else None
    buttons = []
    for index, option in enumerate(model.options):
        label = _label_from_json(option["l"])
        if chosen is not None and option["v"] in chosen:
            label = Msg("form.checked", label=label)
        buttons.append(_button(model, label, Action.CHOICE, str(index)))
    rows = [buttons[i : i + spec.columns] for i in range(0, len(buttons), spec.columns)]
    if spec.multi or spec.collect:
        rows.append([_button(model, Msg("form.button.done"), Action.DONE)])
    return rows


async def _nav_row(model: FormModel, spec: FieldSpec) -> list[Button]:
    row = []
    if await model.may_trigger("back"):
        # Editing from the review, "back" returns there with the answer unchanged: say so.
        back = "form.button.back_to_summary" if model.editing else "form.button.back"
        row.append(_button(model, Msg(back), Action.BACK))
    if spec.optional:
        row.append(_button(model, Msg(spec.skip_label), Action.SKIP))
    row.append(_button(model, Msg("form.button.cancel"), Action.CANCEL))
    return row


def display_value(spec: FieldSpec, model: FormModel) -> Label:
    """How an answer reads in the summary."""
    value = model.data.get(spec.name)
    if spec.display is not None:
        return spec.display(value, model)
    if value in (None, "", []):
        return Msg("form.empty")
    picked = model.ctx.get("labels", {}).get(spec.name)
    if picked is not None and not isinstance(value, list):
        return _label_from_json(picked)
    labels = {c.value: c.label for c in spec.choices} if isinstance(spec.choices, list) else {}
    if isinstance(value, list):
        return Msg("form.list", items=[labels.get(v, str(v)) for v in value])
    return labels.get(value, str(value))


def _summary(form: FormSpec, model: FormModel, notices: list[Msg]) -> Reply:
    shown = [spec for spec in form.fields if spec.in_summary and spec.applies(model.data)]
    lines = [
        Msg("form.summary_line", label=Msg(spec.label), value=display_value(spec, model))
        for spec in shown
        if spec.summary_line
    ]
    texts = [*notices, Msg(form.summary_key), *form.summary_extra(model), *lines]
    edits = [
        _button(model, Msg("form.button.edit", label=Msg(spec.label)), Action.EDIT, spec.name)
        for spec in shown
    ]
    rows = [edits[i : i + 2] for i in range(0, len(edits), 2)]
    rows.append(
        [
            _button(model, Msg(form.confirm_label), Action.CONFIRM),
            _button(model, Msg("form.button.cancel"), Action.CANCEL),
        ]
    )
    # A form view like the steps: a new summary message takes the keyboard off the old one.
    return Reply(texts, rows, form_view=True)
