"""The progress report form (落实情况报告): one step per section, indicators, attachments.

A task has up to ten sections, so the form has ten section steps ``s0`` … ``s9`` and asks those
the task has. A section's text may arrive in several messages: each is appended and the step
stays until "下一栏" (a choice) moves on. Indicators start pre-filled from the org's activities
in the cycle's period; typing "活动场次 5" changes one. The engine saves the state after every
step, so the draft survives restarts; opening the same task again resumes it.
"""

from __future__ import annotations

import re
from typing import Any

from bot.flows import engine
from bot.flows.base import (
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
    said,
)
from bot.services import tasks as svc
from bot.services.tasks import TaskError
from storage.task_models import SECTION_MAX

NEXT = "next"
EXCERPT = 40
FORM_NAME = "task_report"
_NAME_VALUE = re.compile(
    r"^(.*?)[\s：:=]*([\d零〇一二两三四五六七八九十百千万]+)\s*[场人次个项篇期]*$"
)


def _section_index(name: str) -> int:
    return int(name[1:])


def _section_name(model: FormModel, index: int) -> str:
    return model.ctx["sections"][index]


def _texts(model: FormModel) -> dict[str, str]:
    return model.ctx.setdefault("texts", {})


def _next_choice() -> list[Choice]:
    return [Choice(NEXT, Msg("task.button.next_section"))]


async def parse_section(inp: Input, ctx: FlowContext, model: FormModel) -> Options:
    """Append a message to the current section; the step stays until "下一栏"."""
    if inp.kind is not InputKind.TEXT or not inp.text.strip():
        raise Invalid("task.section_text_only")
    name = _section_name(model, _section_index(model.state))
    texts = _texts(model)
    # Coming back to a finished section starts it afresh; further messages add to it.
    current = "" if model.data.get(model.state) == NEXT else texts.get(name, "")
    joined = f"{current}\n{inp.text.strip()}" if current else inp.text.strip()
    try:
        svc.check_section(joined)
    except TaskError as error:
        raise Invalid.of(error) from None
    texts[name] = joined
    model.data[model.state] = "typing"
    return Options(
        _next_choice(), Msg("task.section_received", length=len(joined), limit=SECTION_MAX)
    )


async def parse_indicator(inp: Input, ctx: FlowContext, model: FormModel) -> Options:
    """``活动场次 5`` (or just a number when there is one indicator) changes one value."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("task.indicator_format")
    values: dict[str, int] = model.ctx.setdefault("values", {})
    match = _NAME_VALUE.match(inp.text.strip())
    if match is None:
        raise Invalid("task.indicator_format")
    name, raw = match.group(1).strip(), match.group(2)
    if not name and len(values) == 1:
        name = next(iter(values))
    if name not in values:
        raise Invalid("task.indicator_format")
    try:
        values[name] = svc.parse_indicator(raw)
    except TaskError as error:
        raise Invalid.of(error) from None
    return Options([Choice("ok", Msg("task.button.values_ok"))], Msg("task.indicator_set"))


async def parse_attachment(inp: Input, ctx: FlowContext, model: FormModel) -> dict[str, Any]:
    """A photo or document for the report, kept as its Telegram file id."""
    if inp.kind not in (InputKind.PHOTO, InputKind.DOCUMENT) or not inp.file_id:
        raise Invalid("task.bad_attachment")
    return {"file_id": inp.file_id, "kind": inp.kind.value, "name": inp.text[:100]}


def _section_value(value: Any, model: FormModel, index: int) -> Label:
    text = _texts(model).get(_section_name(model, index), "")
    excerpt = text if len(text) <= EXCERPT else text[:EXCERPT] + "…"
    return Msg(
        "task.section_line", name=_section_name(model, index), text=excerpt or Msg("form.empty")
    )


def _section_field(index: int) -> FieldSpec:
    return FieldSpec(
        f"s{index}",
        prompt="task.ask_section",
        label=f"task.label.s{index}",
        parse=parse_section,
        choices=_next_choice(),
        next_choice=NEXT,  # 下一栏 / 写完了 typed: as the button, never appended to the text
        when=lambda data, i=index: i < data.get("n", 0),
        display=lambda value, model, i=index: _section_value(value, model, i),
        columns=1,
    )


def _so_far(model: FormModel, step: str, text: str) -> Label:
    """What the section holds; a finished one is replaced by the next message (say so)."""
    if not text:
        return ""
    key = "task.so_far_replace" if model.data.get(step) == NEXT else "task.so_far"
    return Msg(key, text=text)


def _values(value: Any, model: FormModel) -> Label:
    pairs = model.ctx.get("values", {})
    return Msg("form.list", items=[f"{k} {v}" for k, v in pairs.items()])


class ReportForm(FormSpec):
    """The form behind /tasks and the "填报" button of a reminder."""

    name = FORM_NAME
    summary_key = "task.report_summary"
    fields = (
        *(_section_field(i) for i in range(svc.MAX_SECTIONS)),
        FieldSpec(
            "indicators",
            prompt="task.ask_values",
            label="task.label.values",
            parse=parse_indicator,
            choices=[Choice("ok", Msg("task.button.values_ok"))],
            typed_yes_no={True: "ok"},  # 对 / 没问题 under the values: as "确认无误"
            when=lambda data: bool(data.get("has_values")),
            display=_values,
            columns=1,
        ),
        FieldSpec(
            "attachments",
            prompt="task.ask_report_files",
            label="task.label.attachments",
            parse=parse_attachment,
            optional=True,
            collect=svc.MAX_ATTACHMENTS,
            stay_when_full=True,
            display=lambda v, m: Msg("task.attachment_count", count=len(v or [])),
        ),
    )

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """The section's name, position and what it holds so far; the indicator values."""
        if spec.name.startswith("s") and spec.name[1:].isdigit():
            index = _section_index(spec.name)
            name = _section_name(model, index)
            text = _texts(model).get(name, "")
            return {
                "title": model.ctx["title"],
                "name": name,
                "index": index + 1,
                "count": model.data["n"],
                "limit": SECTION_MAX,
                "so_far": _so_far(model, spec.name, text),
            }
        if spec.name == "indicators":
            return {"values": _values(None, model)}
        return {}

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """The task and its deadline; a late report says so before it is sent."""
        lines = [Msg("task.report_of", title=model.ctx["title"], deadline=model.ctx["deadline"])]
        if model.ctx.get("version"):
            lines.append(Msg("task.replaces", version=model.ctx["version"]))
        return lines

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Submit the report (a resubmission replaces the current one, keeping history)."""
        try:
            row = await svc.submit_report(
                ctx.session,
                cycle_id=model.ctx["cycle_id"],
                user=ctx.actor,
                sections=dict(_texts(model)),
                indicators=dict(model.ctx.get("values", {})),
                attachments=list(model.data.get("attachments") or []),
                now=ctx.now,
            )
        except TaskError as error:
            return Reply([said(error)])
        key = "task.submitted_late" if row.late else "task.submitted"
        return Reply([Msg(key, title=model.ctx["title"], version=row.version)])


async def start_report(ctx: FlowContext, cycle_id: int) -> Reply:
    """Open the report form for a cycle: resume its draft, or start from the current report."""
    try:
        task, cycle = await svc.fillable_cycle(ctx.session, cycle_id, ctx.actor)
    except TaskError as error:
        return Reply([said(error)])
    resumed = await _resume(ctx, cycle_id)
    if resumed is not None:
        return resumed
    extra, data = await _prefill(ctx, task, cycle)
    intro = [Msg("task.report_intro", description=task.description)] if task.description else []
    return await engine.start(
        ctx,
        FORM_NAME,
        data=data,
        extra=extra,
        notices=intro,
        fill_missing=bool(extra.get("version")),
    )


async def _resume(ctx: FlowContext, cycle_id: int) -> Reply | None:
    """The saved draft of the same cycle where the user left it; any other open form is shown
    again rather than replaced, so no draft is lost to a stray 填报 button."""
    form = await engine.open_form(ctx)
    if form is None:
        return None
    same = form.name == FORM_NAME and form.extra.get("cycle_id") == cycle_id
    notice = Msg("task.draft_resumed") if same else Msg("task.other_form_open")
    return await engine.current_view(ctx, [notice])


async def _prefill(
    ctx: FlowContext, task: Any, cycle: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's starting point: the current submission, or activity counts."""
    org_id = ctx.actor.org_id  # type: ignore[union-attr]
    current = await svc.current_submission(ctx.session, cycle.id, org_id)
    values = await svc.prefill_indicators(ctx.session, task, cycle, org_id)
    from bot.flows.task_new import deadline_label

    extra: dict[str, Any] = {
        "cycle_id": cycle.id,
        "title": task.title,
        "sections": list(task.sections),
        "deadline": deadline_label(cycle.deadline.isoformat(), None, ctx.tz.key),
        "texts": {},
        "values": values,
    }
    data: dict[str, Any] = {"n": len(task.sections), "has_values": bool(task.indicators)}
    if current is not None:
        extra["texts"] = dict(current.sections)
        extra["values"] = {**values, **current.indicators}
        extra["version"] = current.version
        data.update({f"s{i}": NEXT for i in range(len(task.sections))})
        data.update({"indicators": "ok", "attachments": list(current.attachments)})
    return extra, data
