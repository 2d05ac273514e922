"""Which of an org's open report tasks a policy document belongs to: answers that lead to work.

A task is linked to an indexed document when

- one of its attachments is the document's file. What a task keeps of an attachment is
  ``{file_id, kind, name}``: the file itself stays on Telegram's servers, so the bot never sees
  its content (nor its content hash). The name is what both sides share: a notice an admin
  indexed in chat is kept under the file name it was sent with, and attaching that same file
  to /newtask keeps that name. So the names must be equal, or equal but for the suffix
  (通知.pdf beside 通知.docx), and distinctive: a name such as 通知.docx or 附件1.pdf, which
  many unrelated files carry, links nothing;
- or the task's title, or an attachment's name, names the document: its 文号 (written with
  any brackets, with or without 第), its title, the title without 关于 … 的通知, or a part of it
  quoted in 《》 or “” (8 characters or more); or the task's title is itself a long part of the
  document's title (12 characters or more). A 文号 in the task's description counts too.

Answers use it when the question asks for a deadline or about reporting, and the passage
speaks of reporting or a date (``leads_to_report``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import people
from bot.services.knowledge.lines import doc_number_key
from bot.services.tasks import ensure_cycles, my_cycles
from storage import orgs_repo
from storage.models import User
from storage.task_models import ReportSubmission, ReportTask, TaskCycle

MIN_PART = 8  # characters of a title part that names one document, not a topic
MIN_TASK_TITLE = 12  # a task title this long, found in a document's title, names it
MIN_NAME_CHARS = 6  # letters in a file name that tell one file from another
MAX_LINKS = 3  # tasks named under one answer

_DEADLINE_RE = re.compile(
    r"什么时候|啥时候|何时|哪天|哪一天|几号|几月|截止|最晚|最迟|期限|之前|deadline|due",
    re.IGNORECASE,
)
# 交 as in handing in, not 交流 交通 交换 …
_REPORTING_RE = re.compile(
    r"报送|上报|提交|填报|报告|报表|落实情况|总结|交(?![流通往易叉织界际换汇融谈代警])"
)
_DAY_RE = re.compile(r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]")
_NOT_WORD_RE = re.compile(r"[\W_]+")
_DIGITS_RE = re.compile(r"\d+")
_QUOTED_RES = (re.compile(r"《([^《》]+)》"), re.compile(r"“([^“”]+)”"))
_WRAPPER_RE = re.compile(r"^关于|的(?:通知|通报|函|公告)$")
# Words every kind of file name carries; what is left must tell the file apart.
_GENERIC_NAME_RE = re.compile(
    r"附件|文件|通知|正文|扫描件|扫描|副本|终稿|定稿|最终版|新建|文档|document|file|scan|copy|final"
)


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """What names an indexed document: its file name, title and 文号."""

    file_name: str
    title: str
    doc_number: str | None = None


@dataclass(frozen=True, slots=True)
class TaskLink:
    """An open cycle of a task linked to the document, and the org's current report, if any."""

    task: ReportTask
    cycle: TaskCycle
    submission: ReportSubmission | None


def leads_to_report(question: str, passage: str) -> bool:
    """The question asks for a deadline or about reporting, and the passage speaks of either."""
    asks = _DEADLINE_RE.search(question) or _REPORTING_RE.search(question)
    return bool(asks) and bool(_REPORTING_RE.search(passage) or _DAY_RE.search(passage))


def names_document(task: ReportTask, doc: DocumentRef) -> bool:
    """Whether the task was published with the document or names it (see the module doc)."""
    names = [str(item.get("name") or "") for item in task.attachments]
    if any(_same_file(name, doc.file_name) for name in names):
        return True
    if doc.doc_number:
        key = doc_number_key(doc.doc_number)
        if any(key in doc_number_key(text) for text in [task.title, task.description, *names]):
            return True
    haystacks = [_plain(task.title), *(_plain(PurePath(name).stem) for name in names)]
    if any(part in hay for part in title_parts(doc.title) for hay in haystacks):
        return True
    title = _plain(task.title)
    return len(title) >= MIN_TASK_TITLE and title in _plain(doc.title)


def title_parts(title: str) -> set[str]:
    """The parts of a document's title that name it alone, in plain form."""
    parts = [title, _WRAPPER_RE.sub("", title)]
    parts += [m.group(1) for pattern in _QUOTED_RES for m in pattern.finditer(title)]
    return {plain for plain in map(_plain, parts) if len(plain) >= MIN_PART}


def _same_file(name: str, file_name: str) -> bool:
    """The same file name, or the same but for the suffix; a generic name never matches."""
    mine, theirs = PurePath(_fold(name)), PurePath(_fold(file_name))
    if mine.stem != theirs.stem or not mine.stem:
        return False
    letters = _DIGITS_RE.sub("", _GENERIC_NAME_RE.sub("", _plain(mine.stem)))
    return len(letters) >= MIN_NAME_CHARS


def _fold(text: str) -> str:
    """Width-folded and lower-cased, so ＡＢ.PDF and ab.pdf compare equal."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def _plain(text: str) -> str:
    """Letters and digits only: punctuation, quotes, brackets and spaces go."""
    return _NOT_WORD_RE.sub("", _fold(text))


async def linked_tasks(
    session: AsyncSession, *, user: User | None, doc: DocumentRef, now: datetime, tz: ZoneInfo
) -> list[TaskLink]:
    """The open cycles of the user's own org's tasks linked to a document (none without an org).

    The same cycles /tasks lists (published, up to a few days overdue), so the days left agree.
    """
    rows = await _own_cycles(session, user, now, tz, lambda task: names_document(task, doc))
    return (rows or [])[:MAX_LINKS]


async def open_tasks(
    session: AsyncSession, *, user: User | None, now: datetime, tz: ZoneInfo
) -> list[TaskLink] | None:
    """Every open cycle of the user's own org's tasks, as /tasks lists them; None when the
    user has no org (an empty list: the org has nothing open)."""
    return await _own_cycles(session, user, now, tz, None)


async def _own_cycles(
    session: AsyncSession,
    user: User | None,
    now: datetime,
    tz: ZoneInfo,
    keep: Callable[[ReportTask], bool] | None,
) -> list[TaskLink] | None:
    if not people.is_registered(user):
        return None
    org = await orgs_repo.get_org(session=session, org_id=user.org_id)  # type: ignore[union-attr,arg-type]
    if org is None:
        return None
    await ensure_cycles(session, now, tz)
    return [TaskLink(*row) for row in await my_cycles(session, org, now, keep=keep)]
