"""``stabot index`` and ``stabot ask``: build the policy index and query it from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.services.knowledge import Answer, Hit, KnowledgeBase, QuestionCode
    from bot.services.knowledge.versions import Changes

KNOWLEDGE_SUBDIR = "knowledge"
DEFAULT_TOP_K = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` and ``ask`` sub-commands."""
    index = subparsers.add_parser("index", help="index policy documents (.txt .md .docx .pdf)")
    index.add_argument("paths", nargs="*", type=Path, help="files or folders (default: corpus)")
    index.add_argument(
        "--seed-vectors",
        action="store_true",
        help="compute the corpus folder's passage vectors afresh into <corpus>/vectors/ "
        "(developers: after the bundled corpus or its chunking changed)",
    )
    index.set_defaults(func=run_index)
    ask = subparsers.add_parser("ask", help="answer a question from the indexed documents")
    ask.add_argument("question", nargs="?", help="the question (default: one per stdin line)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="passages per answer")
    ask.set_defaults(func=run_ask)


def open_knowledge_base(settings: Settings) -> tuple[KnowledgeBase, Path, str]:
    """The knowledge base in the configured data dir, the bundled corpus folder, the locale."""
    # Imported here so that `stabot --help` and other commands do not pay for them.
    from bot.services.knowledge import KnowledgeBase
    from bot.services.knowledge.dense import open_embedder
    from bot.services.knowledge.seeds import SEEDS_DIR

    embedder = open_embedder(settings.knowledge.embeddings)
    kb = KnowledgeBase(
        settings.data_dir / KNOWLEDGE_SUBDIR,
        embedder=embedder,
        seed_vectors=settings.corpus_dir / SEEDS_DIR,
    )
    return kb, settings.corpus_dir, settings.default_locale


def run_index(args: argparse.Namespace, settings: Settings) -> int:
    """Index the given files and folders, or bring the bundled corpus in step."""
    kb, corpus, locale = open_knowledge_base(settings)
    if args.seed_vectors:
        return write_seed_vectors(kb, corpus, locale)
    if args.paths:
        changes = kb.update_paths(args.paths, skip_duplicates=True, errors=[])
    else:
        changes = kb.sync_corpus(corpus)
        kb.rebuild()
    _print_changes(changes, len(kb.documents()), locale)
    _embed(kb, locale)
    return 1 if changes.errors else 0


def write_seed_vectors(kb: KnowledgeBase, corpus: Path, locale: str) -> int:
    """``stabot index --seed-vectors``: the corpus folder's vectors, computed afresh, into its
    seed file (bot/services/knowledge/seeds.py)."""
    from bot.common.i18n import t
    from bot.services.knowledge.base import build_seeds

    if kb.embedder is None:
        print(t(locale, "cli.index.seeds_no_model"), file=sys.stderr)
        return 1
    print(t(locale, "cli.index.seeds_computing", path=str(corpus)), file=sys.stderr, flush=True)
    path, count = build_seeds(corpus, kb.embedder)
    print(t(locale, "cli.index.seeds_written", count=count, path=str(path)))
    return 0


def _embed(kb: KnowledgeBase, locale: str) -> None:
    """Compute the passage vectors still missing (said on stderr: the first time takes long)."""
    from bot.common.i18n import t

    missing = kb.vectors_missing()
    if missing:
        print(t(locale, "cli.ask.embedding", count=missing), file=sys.stderr, flush=True)
        kb.embed_now()


def _print_changes(changes: Changes, total: int, locale: str) -> None:
    """One line per document added, replaced or dropped, one per file refused, then a total."""
    from bot.common.i18n import t
    from bot.services.knowledge.ingest import MAX_BYTES

    def passages(count: int) -> str:
        return t(locale, "count.passages", count=count)

    for info in changes.added:
        print(
            t(
                locale,
                "cli.index.added",
                name=info.key,
                title=info.title,
                passages=passages(info.passages),
            )
        )
    for old, info in changes.replaced:
        print(
            t(
                locale,
                "cli.index.replaced",
                name=info.key,
                title=info.title,
                passages=passages(info.passages),
                old=old.title,
            )
        )
    for info in changes.dropped:
        print(t(locale, "cli.index.dropped", name=info.key, title=info.title))
    limit = MAX_BYTES // (1024 * 1024)
    for path, error in changes.errors:
        print(
            t(locale, f"cli.index.refused.{error.code}", name=str(path), limit=limit),
            file=sys.stderr,
        )
    print(t(locale, "cli.index.total", count=total))


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answer the question argument, or each stdin line, as JSON or readable text."""
    kb, corpus, locale = open_knowledge_base(settings)
    kb.ensure_corpus(corpus)
    # A batch tool whose answers must not depend on timing: vectors missing from the cache
    # (a fresh data dir, new documents) are computed before the first answer. The bot never
    # waits for them.
    _embed(kb, locale)
    questions = [args.question] if args.question is not None else _lines(sys.stdin)
    for question in questions:
        problem, answer = answer_question(kb, question, args.top_k)
        if args.json:
            _print_json(question, answer, sys.stdout)
        else:
            _print_text(question, problem, answer, sys.stdout, locale)
    return 0


def _lines(stream: TextIO) -> Any:
    """Questions from a stream, one per line, read lazily so each is answered as it comes."""
    for line in stream:
        yield line.rstrip("\r\n")


def answer_question(
    kb: KnowledgeBase, question: str, top_k: int
) -> tuple[QuestionCode | None, Answer]:
    """Why a question cannot be searched (empty, too long, no words …) or None, and the answer.

    The answer of ``stabot ask --json`` and of the test that holds the dev set's floors.
    """
    from bot.services.knowledge import Answer

    problem = kb.validate_question(question)
    if problem is not None:
        return problem, Answer([], False)
    return None, kb.answer(question, top_k=max(top_k, 0))


def answer_json(question: str, answer: Answer) -> dict[str, Any]:
    """The JSON object of one question (the scoring contract)."""
    answers = [
        {
            "doc": h.doc,
            "title": h.title,
            "section": h.section,
            "text": h.text,
            "score": h.score,
            "doc_number": h.doc_number,
        }
        for h in answer.hits
    ]
    return {"question": question, "confident": answer.confident, "answers": answers}


def _print_json(question: str, answer: Answer, out: TextIO) -> None:
    """One JSON object on one line, flushed (other tools read it line by line)."""
    out.write(json.dumps(answer_json(question, answer), ensure_ascii=False) + "\n")
    out.flush()


def _print_text(
    question: str, problem: QuestionCode | None, answer: Answer, out: TextIO, locale: str
) -> None:
    """A short readable answer: the passages with their source, or why there is none."""
    from bot.common.i18n import t
    from bot.services.knowledge.question import MAX_QUESTION_CHARS

    hits = answer.hits
    out.write(t(locale, "cli.ask.question", question=question) + "\n")
    if problem is not None:
        out.write(t(locale, f"ask.bad.{problem}", limit=MAX_QUESTION_CHARS) + "\n\n")
    elif not hits:
        out.write(t(locale, "ask.not_found") + "\n\n")
    elif not answer.confident:
        out.write(t(locale, "ask.low_confidence") + "\n\n")
    for rank, hit in enumerate(hits, 1):
        out.write(
            t(
                locale,
                "cli.ask.hit",
                rank=rank,
                source=_source(hit, locale),
                score=f"{hit.score:.2f}",
                text=hit.text,
            )
            + "\n\n"
        )
    out.flush()


def _source(hit: Hit, locale: str) -> str:
    """《title》 (issuer, 文号, date) › section, as chat shows it (bot/flows/citation.py)."""
    from bot.common.i18n import t

    issuer = hit.issuer or t(locale, "ask.unknown_issuer")
    date = hit.date or t(locale, "ask.undated")
    if hit.doc_number:
        details = t(locale, "ask.details_numbered", issuer=issuer, doc_number=hit.doc_number,
                    date=date)
    else:
        details = t(locale, "ask.details", issuer=issuer, date=date)
    return t(locale, "cli.ask.source", title=hit.title, details=details,
             section=hit.section or t(locale, "ask.no_section"))


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.commands.knowledge ask …`: the same commands without the other modules.

    `stabot` builds every sub-command's parser and so imports their modules; this entry point
    imports only what `index` and `ask` need (for start-up time measurements and scripts).
    """
    parser = argparse.ArgumentParser(prog="stabot-knowledge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    from bot.config import Settings

    return int(args.func(args, Settings()) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
