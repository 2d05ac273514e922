"""Policy answers in chat: the best passage with its source, more sources, the full section."""

from __future__ import annotations

import html
import re
from datetime import date

from bot.flows.base import Button, FlowContext, Html, Input, InputKind, Msg, Reply
from bot.flows.callback_data import AskMoreButton, AskSectionButton
from bot.flows.citation import citation
from bot.flows.task_hint import task_hint
from bot.services import when
from bot.services.activity_text import shows_activity
from bot.services.knowledge import Answer, Hit
from bot.services.knowledge.question import MAX_QUESTION_CHARS, asks_something
from bot.services.policy import PolicyLibrary, log_question, logged_question

MORE_SOURCES = 3  # passages shown under "more sources"
SOURCE_PREVIEW = 300  # characters of each of them
SECTION_PAGE = 3000  # characters of the full section per message (Telegram allows 4096)
TOP_K = 1 + MORE_SOURCES
QUESTION_MAX = MAX_QUESTION_CHARS
# A keyword or a short phrase typed alone (两翼, 学会服务站, 科普大篷车), not a sentence.
TOPIC_MAX = 12
# 几 with a measure word asks how many (几个 几天 几辆 …), though a report may say 几个社区.
_COUNTING = re.compile(r"几[个项条天人次月年号点周位名家种岁辆所批届类份期场时]")
# Words that name what a question is about, but also come in replies such as 收到，按要求办理.
_TOPIC = re.compile(r"规定|要求")
# How acknowledgements begin: with them only an asking word makes a question.
_ACKNOWLEDGED = re.compile(
    r"^(?:好的?|收到|谢谢|感谢|多谢|明白|知道|了解|清楚|嗯|行|可以|没问题|辛苦|已阅|已读|已收到|收悉|知悉|"
    r"ok|okay|thanks|thank you|got it|noted|received|👍|👌|🙏|✅|🆗)",
    re.IGNORECASE,
)


def reads_as_question(text: str) -> bool:
    """Whether a free text (outside any form) should be answered from the documents.

    Length is not checked here: ``question_route`` says when a text is too long.
    """
    text = text.strip()
    if asks_something(text) or _COUNTING.search(text):
        return True
    return bool(_TOPIC.search(text)) and not _ACKNOWLEDGED.match(text)


def acknowledges(text: str) -> bool:
    """Whether a text only acknowledges (收到, 好的, 👍) and asks nothing."""
    text = text.strip()
    return bool(_ACKNOWLEDGED.match(text)) and not reads_as_question(text)


def bold_terms(text: str, terms: list[str]) -> Html:
    """The passage as HTML, with the question's words in bold."""
    if not terms:
        return Html(html.escape(text, quote=False))
    pattern = re.compile("|".join(re.escape(term) for term in terms))
    parts, last = [], 0
    for match in pattern.finditer(text):
        parts.append(html.escape(text[last : match.start()], quote=False))
        parts.append(f"<b>{html.escape(match.group(0), quote=False)}</b>")
        last = match.end()
    parts.append(html.escape(text[last:], quote=False))
    return Html("".join(parts))


def source_line(hit: Hit) -> Msg:
    """《title》 (issuer, 文号, date) › section."""
    return Msg(
        "ask.source",
        title=hit.title,
        details=citation(hit.issuer, hit.doc_number, hit.date),
        section=hit.section or Msg("ask.no_section"),
    )


async def answer(ctx: FlowContext, library: PolicyLibrary, question: str) -> Reply:
    """The best passage for a question (under a caution when it may not answer it), or a
    plain "not in the documents" when nothing in them relates."""
    problem = await library.validate(question)
    if problem is not None:
        return Reply([Msg(f"ask.bad.{problem}", limit=QUESTION_MAX)])
    return await _answered(ctx, library, question, await library.answer(question, TOP_K))


async def _answered(
    ctx: FlowContext, library: PolicyLibrary, question: str, result: Answer
) -> Reply:
    """The reply to a question the documents were searched for: logged, then shown."""
    hits = result.hits
    log = await log_question(
        ctx.session,
        telegram_id=ctx.user_id,
        question=question.strip(),
        hits=hits,
        now=ctx.now,
        chat_id=ctx.chat_id,
        confident=result.confident,
    )
    if not hits:
        return Reply([Msg("ask.not_found"), Msg("ask.try_docs")])
    best = hits[0]
    terms = await library.highlight_terms(question, best.text)
    section = AskSectionButton(False, 0, best.passage_id)
    buttons = [Button(Msg("ask.button.section"), section.pack())]
    if len(hits) > 1:
        buttons.insert(0, Button(Msg("ask.button.more"), AskMoreButton(log.id).pack()))
    passage = bold_terms(best.text, terms)
    # A low-confidence answer shows the closest passage all the same, saying what it is.
    key = "ask.answer" if result.confident else "ask.answer_low"
    hint, hint_buttons = await task_hint(ctx, question, best)
    return Reply(
        [Msg(key, passage=passage, source=source_line(best)), *hint],
        [buttons, *hint_buttons],
    )


async def more_sources(ctx: FlowContext, library: PolicyLibrary, question_id: int) -> Reply:
    """The next passages for an earlier question of the same user (in a group: of the group)."""
    log = await logged_question(
        ctx.session,
        question_id=question_id,
        telegram_id=ctx.user_id,
        group_id=ctx.chat_id if ctx.in_group else None,
    )
    if log is None:
        return Reply([], toast=Msg("form.stale"))
    hits = (await library.search(log.question, TOP_K))[1:]
    if not hits:
        return Reply([Msg("ask.no_more")])
    texts = [Msg("ask.more_header", question=log.question)]
    buttons = []
    for number, hit in enumerate(hits, start=2):
        preview = hit.text if len(hit.text) <= SOURCE_PREVIEW else hit.text[:SOURCE_PREVIEW] + "…"
        terms = await library.highlight_terms(log.question, preview)
        texts.append(
            Msg(
                "ask.more_item",
                number=number,
                passage=bold_terms(preview, terms),
                source=source_line(hit),
            )
        )
        buttons.append(
            Button(
                Msg("ask.button.section_n", number=number),
                AskSectionButton(False, 0, hit.passage_id).pack(),
            )
        )
    return Reply(texts, [buttons])


async def full_section(
    ctx: FlowContext, library: PolicyLibrary, pid: str, page: int, *, turning: bool = False
) -> Reply:
    """The whole section a passage belongs to, page by page (turning a page edits it)."""
    hit = await library.passage(pid)
    if hit is None:
        return Reply([Msg("ask.gone")])
    section = await library.section(hit) or [hit]
    pages = _pages("\n".join(p.text for p in section))
    page = min(max(page, 0), len(pages) - 1)
    texts = [source_line(hit), Msg("ask.section_text", text=pages[page])]
    nav = []
    if page > 0:
        nav.append(Button(Msg("ask.button.prev"), AskSectionButton(True, page - 1, pid).pack()))
    if page + 1 < len(pages):
        ahead = AskSectionButton(True, page + 1, pid)
        nav.append(Button(Msg("ask.button.next", page=page + 2, pages=len(pages)), ahead.pack()))
    return Reply(texts, [nav] if nav else [], edit=turning)


def _pages(text: str) -> list[str]:
    pages, rest = [], text
    while len(rest) > SECTION_PAGE:
        cut = max(rest.rfind("\n", 0, SECTION_PAGE), rest.rfind("。", 0, SECTION_PAGE) + 1)
        cut = cut if cut > SECTION_PAGE // 2 else SECTION_PAGE
        pages.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    return [*pages, rest] if rest or not pages else pages


def may_name_a_topic(text: str, today: date) -> bool:
    """Whether a text may be a keyword to look up: short, neither a question nor an
    acknowledgement (their routes have them), and without any sign of an activity done (a
    day, a head count, 开展/举办了 …), which is the quick log's."""
    text = text.strip()
    if not text or len(text) > TOPIC_MAX or text.startswith("/"):
        return False
    if reads_as_question(text) or acknowledges(text):
        return False
    return not shows_activity(text, today)


async def topic_route(ctx: FlowContext, inp: Input) -> Reply | None:
    """A free-text route before the quick log: a bare keyword the documents speak of (两翼,
    学会服务站, 三长) is answered as "关于两翼" would be. One they do not confidently speak of
    (a name, 我是新来的) passes on to the quick log and the fallback."""
    library = ctx.policy
    if inp.kind is not InputKind.TEXT or library is None:
        return None
    text = inp.text.strip()
    if not may_name_a_topic(text, when.today_in(ctx.now, ctx.tz)):
        return None
    if await library.validate(text) is not None:
        return None
    result = await library.answer(text, TOP_K)
    if not (result.hits and result.confident) or not await _names(library, text, result.hits[0]):
        return None
    return await _answered(ctx, library, text, result)


async def _names(library: PolicyLibrary, text: str, hit: Hit) -> bool:
    """Whether the passage speaks of what the text names: each of the text's own words (not
    only a synonym, not only one of two: 社区 of 社区科普讲座) is in it."""
    own = await library.highlight_terms(text, text)
    found = set(await library.highlight_terms(text, hit.text))
    return bool(own) and all(term in found for term in own)


async def question_route(ctx: FlowContext, inp: Input) -> Reply | None:
    """A free-text route: texts that read as questions get an answer from the documents."""
    if inp.kind is not InputKind.TEXT:
        return None
    if len(inp.text.strip()) > QUESTION_MAX:
        # Quick logs had their turn: a long text here is a question pasted with too much.
        return Reply([Msg("ask.bad.too_long", limit=QUESTION_MAX)])
    if not reads_as_question(inp.text):
        return None
    return await answer(ctx, ctx.policy, inp.text)
