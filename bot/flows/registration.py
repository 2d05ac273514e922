"""Registration from an invite link: confirm the org, give a real name, confirm."""

from __future__ import annotations

from typing import Any

from bot.flows.base import (
    Choice,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Input,
    InputKind,
    Invalid,
    Msg,
    Reply,
    said,
)
from bot.services import people
from storage.models import Role


async def parse_real_name(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A real name typed as text."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("form.expect_text")
    try:
        return people.clean_name(inp.text)
    except people.AccessError as refusal:
        raise Invalid.of(refusal) from None


def role_label(role: str | Role | None) -> Msg:
    """The localised name of a role."""
    return Msg(f"role.{role}") if role else Msg("role.none")


REAL_NAME = FieldSpec(
    "real_name",
    prompt="register.ask_name",
    label="register.label.name",
    parse=parse_real_name,
    params={"min": people.NAME_MIN, "max": people.NAME_MAX},
)


class RegistrationForm(FormSpec):
    """The first form a new user fills, from an invite."""

    name = "register"
    summary_key = "register.summary"
    fields = (
        FieldSpec(
            "org_ok",
            prompt="register.ask_org",
            label="register.label.org_ok",
            choices=[Choice("yes", Msg("register.org_yes")), Choice("no", Msg("register.org_no"))],
            abort={"no": "register.org_wrong"},
            typed_yes_no={True: "yes", False: "no"},
            in_summary=False,  # the summary shows the org itself, above the name
            columns=1,
        ),
        REAL_NAME,
    )

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """The org and role the invite offers."""
        return {"org": model.ctx.get("org_path", ""), "role": role_label(model.ctx.get("role"))}

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """The org and role, above the name."""
        return [
            Msg(
                "register.summary_org",
                org=model.ctx.get("org_path", ""),
                role=role_label(model.ctx.get("role")),
            )
        ]

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Use the invite and register the user."""
        if ctx.actor is None:
            raise RuntimeError("registration needs the user's row")
        try:
            await people.register_with_invite(
                ctx.session,
                user=ctx.actor,
                invite_id=model.ctx["invite_id"],
                real_name=model.data["real_name"],
                now=ctx.now,
            )
        except people.AccessError as refusal:
            return Reply([said(refusal)])
        return Reply(
            [
                Msg(
                    "register.done",
                    name=model.data["real_name"],
                    org=model.ctx.get("org_path", ""),
                    role=role_label(model.ctx.get("role")),
                ),
                Msg("register.next_steps"),
            ]
        )
