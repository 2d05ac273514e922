"""The org picker of the forms: the first orgs of the actor's subtree, or those a typed name finds.

/broadcast and /newtask tick several orgs with it, /members picks one (a filter, a person's new
org, an invite's org). The form keeps the names it offered, so its summary can show them. A form
takes its whole step from `OrgPicker.step`; nothing else builds an org step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from bot.flows.base import (
    Choice,
    FieldSpec,
    FlowContext,
    FormModel,
    Input,
    InputKind,
    Invalid,
    Label,
    Msg,
    Options,
)
from bot.services import orgs, people
from bot.services.org_search import Found
from storage.models import Org

ORG_CHOICES = 30
QUERY_MAX = 50

ScopeOf = Callable[[FlowContext], Awaitable[people.Scope]]
ChoiceSource = Callable[[FlowContext, FormModel], Awaitable[list[Choice]]]


@dataclass(frozen=True)
class OrgPicker:
    """Choices and typed search over the orgs of the scope ``scope_of`` returns."""

    scope_of: ScopeOf
    no_match: str  # the message key when a typed name matches no org; takes {text}

    async def choices(self, ctx: FlowContext, model: FormModel) -> list[Choice]:
        """The first orgs of the scope in tree order; typing part of a name finds others."""
        scope = await self.scope_of(ctx)
        found = await orgs.list_orgs(ctx.session, within=scope.org, limit=ORG_CHOICES)
        return offer(model, found)

    async def search(self, inp: Input, ctx: FlowContext, model: FormModel) -> Options:
        """Typed part of a name → matching orgs of the scope, as buttons."""
        if inp.kind is not InputKind.TEXT or not inp.text.strip():
            raise Invalid("form.expect_text")
        text = inp.text.strip()[:QUERY_MAX]
        scope = await self.scope_of(ctx)
        found = await orgs.find_orgs(ctx.session, text, within=scope.org, limit=ORG_CHOICES)
        if not found.orgs:
            raise Invalid(self.no_match, text=text)
        return Options(offer(model, found.orgs), place_note(found))

    async def example(self, ctx: FlowContext, model: FormModel) -> dict[str, Any]:
        """The prompt's example of what to type: a name from the scope's own tree."""
        return await example_params(ctx, (await self.scope_of(ctx)).org)

    def step(
        self,
        name: str,
        *,
        prompt: str,
        label: str,
        multi: bool = False,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> FieldSpec:
        """The form step that picks one org (or ticks several, ``multi``) with this picker."""
        return FieldSpec(
            name,
            prompt=prompt,
            label=label,
            choices=self.choices,
            parse=self.search,
            multi=multi,
            when=when,
            display=org_names if multi else _picked_name,
            prompt_from=self.example,
        )

    def reach_steps(
        self, prefix: str, kind: str, kinds: ChoiceSource, levels: ChoiceSource
    ) -> tuple[FieldSpec, FieldSpec, FieldSpec]:
        """The steps that say whom a form reaches: the kind (the whole subtree, one level,
        picked orgs, or the form's own kinds), then the level or the orgs when so chosen.

        Message keys follow ``prefix``: ``<prefix>.ask_<kind>``, ``<prefix>.label.level`` …
        """

        def chosen(value: str) -> Callable[[dict[str, Any]], bool]:
            return lambda data: data.get(kind) == value

        ask, label = f"{prefix}.ask_", f"{prefix}.label."
        orgs = self.step(
            "orgs", prompt=ask + "orgs", label=label + "orgs", multi=True, when=chosen("orgs")
        )
        return (
            # On the summary the kind's line says whom it reaches (the form's `reach_shown`),
            # not the button that was pressed ("选择组织…"); the level and orgs say it there.
            FieldSpec(
                kind, ask + kind, label + kind, choices=kinds, columns=1, display=_reach_of(kind)
            ),
            FieldSpec(
                "level",
                ask + "level",
                label + "level",
                choices=levels,
                when=chosen("level"),
                columns=1,
                summary_line=False,
            ),
            replace(orgs, summary_line=False),
        )


async def example_params(ctx: FlowContext, within: Org | None) -> dict[str, Any]:
    """``{example}`` of a prompt that asks for part of an org's name: one of the tree the
    reader searches (within their scope), so the example finds something."""
    name = await orgs.example_name(ctx.session, within)
    return {"example": name or Msg("org.example_any")}


def place_note(found: Found) -> Msg | None:
    """Said above the orgs when the name typed was a place without an org of its own, and
    these are its city's (玉泉区 → 呼和浩特市科协)."""
    return Msg("org.place_in_city", place=found.place, city=found.city) if found.place else None


def offer(model: FormModel, orgs: Iterable[Org]) -> list[Choice]:
    """Choices for these orgs; their names are remembered for the summary."""
    names = model.ctx.setdefault("org_names", {})
    choices = []
    for org in orgs:
        names[str(org.id)] = org.name
        choices.append(Choice(org.id, org.name))
    return choices


def org_name(model: FormModel, org_id: Any) -> Label:
    """The name of an org the form offered (its id when it was never offered)."""
    return str(model.ctx.get("org_names", {}).get(str(org_id), org_id))


def org_names(value: Any, model: FormModel) -> Label:
    """Ticked orgs, by name, for a summary line."""
    return Msg("form.list", items=[org_name(model, org_id) for org_id in value or []])


REACH = "reach_shown"  # model.ctx: whom the form reaches, as its summary says it (a Msg)


def show_reach(model: FormModel, shown: Msg) -> None:
    """Keep whom the form reaches for its summary's line (a form's `prepare_summary`)."""
    model.ctx[REACH] = shown.to_json()


def _reach_of(kind: str) -> Callable[[Any, FormModel], Label]:
    """The reach line of a summary: what the form worked out, else the choice's label."""

    def shown(value: Any, model: FormModel) -> Label:
        worked_out = model.ctx.get(REACH)
        if worked_out is not None:
            return Msg.from_json(worked_out)
        picked = model.ctx.get("labels", {}).get(kind)
        return Msg.from_json(picked) if isinstance(picked, dict) else str(picked or value)

    return shown


def _picked_name(value: Any, model: FormModel) -> Label:
    return org_name(model, value)
