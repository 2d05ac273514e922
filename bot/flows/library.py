"""/docs and the document upload form: list, add (confirming title, date, 文号), remove."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.flows.base import (
    Button,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Input,
    InputKind,
    Invalid,
    Msg,
    Reply,
)
from bot.flows.callback_data import DocumentButton
from bot.flows.citation import citation
from bot.flows.engine import start
from bot.services import orgs
from bot.services.knowledge import IngestError
from bot.services.knowledge.errors import UnknownDocumentError
from bot.services.knowledge.lines import parse_date
from bot.services.policy import PolicyLibrary, manages_library

TITLE_MIN, TITLE_MAX = 2, 120
DOC_NUMBER_MAX = 40
MAX_UPLOAD_MB = 20  # the Bot API lets bots download files up to 20 MB


async def may_manage(ctx: FlowContext) -> bool:
    """Whether the user may add and remove shared documents."""
    org = None
    if ctx.actor is not None and ctx.actor.org_id is not None:
        org = await orgs.get_org(ctx.session, ctx.actor.org_id)
    return manages_library(ctx.actor, org, ctx.superadmin)


def passages(count: int) -> Msg:
    """A document's passage count with its noun ("12 passages", "12 段")."""
    return Msg("count.passages", count=count)


async def list_documents(ctx: FlowContext, library: PolicyLibrary) -> Reply:
    """/docs: every indexed document; managers get a remove button per document."""
    docs = await library.documents()
    if not docs:
        return Reply([Msg("docs.empty")])
    texts = [Msg("docs.header", count=len(docs))]
    texts += [
        Msg("docs.line", number=n, title=d.title, details=citation(d.issuer, d.doc_number, d.date),
            passages=passages(d.passages))
        for n, d in enumerate(docs, start=1)
    ]
    if ctx.in_group or not await may_manage(ctx):  # managing documents is done in private
        return Reply(texts)
    texts.append(Msg("docs.how_to_add", limit=MAX_UPLOAD_MB))
    buttons = [
        Button(Msg("docs.button.remove", number=n), DocumentButton("remove", d.doc_id).pack())
        for n, d in enumerate(docs, start=1)
    ]
    return Reply(texts, [buttons[i : i + 4] for i in range(0, len(buttons), 4)])


async def ask_removal(ctx: FlowContext, library: PolicyLibrary, doc_id: str) -> Reply:
    """The remove button: ask once more, naming the document."""
    if not await may_manage(ctx):
        return Reply([], toast=Msg("docs.not_allowed"))
    doc = next((d for d in await library.documents() if d.doc_id == doc_id), None)
    if doc is None:
        return Reply([], toast=Msg("ask.gone"))
    return Reply(
        [Msg("docs.remove_confirm", title=doc.title)],
        [
            [
                Button(Msg("docs.button.remove_yes"), DocumentButton("remove-yes", doc_id).pack()),
                Button(Msg("form.button.cancel_no"), DocumentButton("keep").pack()),
            ]
        ],
        edit=True,
    )


async def remove(ctx: FlowContext, library: PolicyLibrary, doc_id: str) -> Reply:
    """Remove a document for good (its passages are no longer answered)."""
    if not await may_manage(ctx):
        return Reply([], toast=Msg("docs.not_allowed"))
    try:
        doc = await library.remove(doc_id)
    except UnknownDocumentError:
        return Reply([], toast=Msg("ask.gone"))
    return Reply([Msg("docs.removed", title=doc.title)], edit=True)


async def receive_upload(
    ctx: FlowContext, library: PolicyLibrary, path: Path, file_name: str
) -> Reply:
    """A downloaded file: read it, then ask the admin to confirm its title and date."""
    try:
        info = await library.inspect(path)
    except IngestError as error:
        library.discard_upload(path)
        return Reply([Msg(f"docs.refused.{error.code}", name=file_name, limit=MAX_UPLOAD_MB)])
    data = {"title": info.title, "date": info.date, "doc_number": info.doc_number}
    extra = {"path": str(path), "file_name": file_name, "issuer": info.issuer or "",
             "passages": info.passages}
    notices = [Msg("docs.read_ok", name=file_name, passages=passages(info.passages))]
    old = await library.same_name(path)
    if old is not None:
        # The same file name is a new version: say so before the admin confirms.
        extra["replaces"] = old.title
        notices.append(Msg("docs.will_replace", name=file_name, title=old.title))
    return await start(
        ctx, DocumentUploadForm.name, data=data, extra=extra, fill_missing=True, notices=notices
    )


def refuse_upload(code: str, file_name: str) -> Reply:
    """A file refused before download (wrong type, too large, not allowed)."""
    return Reply([Msg(f"docs.refused.{code}", name=file_name, limit=MAX_UPLOAD_MB)])


async def parse_title(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A document title."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("form.expect_text")
    title = " ".join(inp.text.split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise Invalid("docs.bad_title", min=TITLE_MIN, max=TITLE_MAX)
    return title


async def parse_doc_date(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A document date such as 2021-11-23 or 2021年11月23日."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("form.expect_text")
    parsed = parse_date(inp.text.strip())
    if parsed is None or parsed > ctx.now.astimezone(ctx.tz).date().isoformat():
        raise Invalid("docs.bad_date")
    return parsed


async def parse_doc_number(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A document number such as 内科协发〔2026〕58号, spaces removed (its brackets kept)."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("form.expect_text")
    number = "".join(inp.text.split())
    # Loose on purpose: numbers such as 国务院令第708号 follow no bracket pattern.
    if not 2 < len(number) <= DOC_NUMBER_MAX or not number.endswith("号") or not any(
        ch.isdigit() for ch in number
    ):
        raise Invalid("docs.bad_doc_number", max=DOC_NUMBER_MAX)
    return number


class DocumentUploadForm(FormSpec):
    """Confirm (or correct) what was read from an uploaded document, then index it."""

    name = "docupload"
    summary_key = "docs.summary"
    fields = (
        FieldSpec("title", prompt="docs.ask_title", label="docs.label.title", parse=parse_title,
                  params={"min": TITLE_MIN, "max": TITLE_MAX}),
        FieldSpec("date", prompt="docs.ask_date", label="docs.label.date", parse=parse_doc_date,
                  optional=True),
        FieldSpec("doc_number", prompt="docs.ask_doc_number", label="docs.label.doc_number",
                  parse=parse_doc_number, optional=True, params={"max": DOC_NUMBER_MAX}),
    )

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """The file and what the reader found in it."""
        lines = [
            Msg(
                "docs.summary_file",
                name=model.ctx.get("file_name", ""),
                passages=passages(model.ctx.get("passages", 0)),
            )
        ]
        if model.ctx.get("replaces"):
            lines.append(Msg("docs.summary_replaces", title=model.ctx["replaces"]))
        return lines

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Index the file under the confirmed title and date."""
        library = ctx.policy
        path = Path(model.ctx["path"])
        try:
            info, old = await library.add(path, title=model.data["title"],
                                          date=model.data.get("date"),
                                          doc_number=model.data.get("doc_number"))
        except IngestError as error:
            return Reply(
                [
                    Msg(
                        f"docs.refused.{error.code}",
                        name=model.ctx.get("file_name", ""),
                        limit=MAX_UPLOAD_MB,
                    )
                ]
            )
        finally:
            library.discard_upload(path)
        if old is not None:
            found = passages(info.passages)
            return Reply([Msg("docs.replaced", old=old.title, title=info.title, passages=found)])
        return Reply([Msg("docs.added", title=info.title, passages=passages(info.passages))])

    async def on_cancel(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Drop the waiting file."""
        if "path" in model.ctx:
            PolicyLibrary.discard_upload(Path(model.ctx["path"]))
        return Reply([Msg("form.cancelled")], finished=True)

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """No extra parameters."""
        return {}
