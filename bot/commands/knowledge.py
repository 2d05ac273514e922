"""``stabot index`` and ``stabot ask``: build the policy index and query it from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from bot.services.knowledge import Hit, KnowledgeBase

KNOWLEDGE_SUBDIR = "knowledge"
DEFAULT_TOP_K = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` and ``ask`` sub-commands."""
    index = subparsers.add_parser("index", help="index policy documents (.txt .md .docx .pdf)")
    index.add_argument("paths", nargs="*", type=Path, help="files or folders (default: corpus)")
    index.set_defaults(func=run_index)
    ask = subparsers.add_parser("ask", help="answer a question from the indexed documents")
    ask.add_argument("question", nargs="?", help="the question (default: one per stdin line)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    ask.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="passages per answer")
    ask.set_defaults(func=run_ask)


def open_knowledge_base() -> tuple[KnowledgeBase, Path]:
    """The knowledge base in the configured data dir, and the bundled corpus folder."""
    # Imported here so that `stabot --help` and other commands do not pay for them.
    from bot.config import Settings
    from bot.services.knowledge import KnowledgeBase

    settings = Settings()
    return KnowledgeBase(settings.data_dir / KNOWLEDGE_SUBDIR), settings.corpus_dir


def run_index(args: argparse.Namespace) -> int:
    """Index the given files and folders, or (re)index the bundled corpus."""
    from bot.services.knowledge import IngestError

    kb, corpus = open_knowledge_base()
    errors: list[tuple[Path, IngestError]] = []
    if args.paths:
        added = kb.add_paths(args.paths, skip_duplicates=True, errors=errors)
    else:
        added = kb.add_paths([corpus], skip_duplicates=True, errors=errors)
        kb.rebuild()
    for info in added:
        print(f"+ {info.file_name}\t{info.title}\t({info.passages} passages)")
    for path, error in errors:
        print(f"! {path}\t{error.code}", file=sys.stderr)
    print(f"{len(kb.documents())} documents indexed")
    return 1 if errors else 0


def run_ask(args: argparse.Namespace) -> int:
    """Answer the question argument, or each stdin line, as JSON or readable text."""
    kb, corpus = open_knowledge_base()
    kb.ensure_corpus(corpus)
    questions = [args.question] if args.question is not None else _lines(sys.stdin)
    for question in questions:
        hits = _search(kb, question, args.top_k)
        if args.json:
            _print_json(question, hits, sys.stdout)
        else:
            _print_text(question, hits, sys.stdout)
    return 0


def _lines(stream: TextIO) -> Any:
    """Questions from a stream, one per line, read lazily so each is answered as it comes."""
    for line in stream:
        yield line.rstrip("\r\n")


def _search(kb: KnowledgeBase, question: str, top_k: int) -> list[Hit]:
    """Hits for a valid question; none for an empty, overlong or wordless one."""
    if kb.validate_question(question) is not None:
        return []
    return kb.search(question, top_k=max(top_k, 0))


def _print_json(question: str, hits: list[Hit], out: TextIO) -> None:
    """One JSON object on one line, flushed (other tools read it line by line)."""
    answers = [
        {"doc": h.doc, "title": h.title, "section": h.section, "text": h.text, "score": h.score}
        for h in hits
    ]
    out.write(json.dumps({"question": question, "answers": answers}, ensure_ascii=False) + "\n")
    out.flush()


def _print_text(question: str, hits: list[Hit], out: TextIO) -> None:
    """A short readable answer: the passages with their source."""
    out.write(f"问：{question}\n")
    if not hits:
        out.write("文件中没有找到答案。\n\n")
    for rank, hit in enumerate(hits, 1):
        source = "，".join(part for part in (hit.issuer, hit.date) if part)
        where = f"《{hit.title}》" + (f"（{source}）" if source else "")
        if hit.section:
            where += f" › {hit.section}"
        out.write(f"{rank}. {where}  [{hit.score:.2f}]\n{hit.text}\n\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.commands.knowledge ask …`: the same commands without the other modules.

    `stabot` builds every sub-command's parser and so imports their modules; this entry point
    imports only what `index` and `ask` need (for start-up time measurements and scripts).
    """
    parser = argparse.ArgumentParser(prog="stabot-knowledge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
