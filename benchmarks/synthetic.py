"""Deterministic synthetic policy documents built from the real corpus vocabulary."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bot.services.knowledge.chunking import chunk_text, sentences

CN_NUMBERS = "一二三四五六七八九十"
START, END = "<s>", "</s>"


class SentenceModel:
    """A word bigram Markov chain over the corpus sentences (jieba words)."""

    def __init__(self, corpus_dir: Path, cut: Callable[[str], list[str]], seed: int = 42) -> None:
        self.random = random.Random(seed)
        self.next: dict[str, list[str]] = defaultdict(list)
        self.headings: list[str] = []
        for path in sorted(corpus_dir.glob("*.txt")):
            for passage in chunk_text(path.read_text(encoding="utf-8")):
                self.headings.extend(passage.section[-1:])
                for sentence in sentences(passage.text.replace("\n", "")):
                    words = [START, *cut(sentence.rstrip("。；！？")), END]
                    for left, right in itertools.pairwise(words):
                        self.next[left].append(right)

    def sentence(self, max_words: int = 40) -> str:
        """One random sentence ending with 。."""
        words, word = [], START
        while len(words) < max_words:
            word = self.random.choice(self.next[word])
            if word == END:
                break
            words.append(word)
        return "".join(words).strip("，、") + "。"

    def paragraph(self, min_chars: int = 150, max_chars: int = 300) -> str:
        """Sentences until the paragraph is long enough (passage-sized)."""
        text = ""
        while len(text) < min_chars:
            text += self.sentence()
        # Cut at the last sentence end that fits, as real paragraphs end.
        return text if len(text) <= max_chars else text[: text.rfind("。", 0, max_chars) + 1]

    def heading(self) -> str:
        """A heading title taken from the real documents, without its number."""
        title = self.random.choice(self.headings)
        return title.split("、", 1)[-1].split("）", 1)[-1].split(".", 1)[-1]


def write_documents(model: SentenceModel, folder: Path, n_passages: int, per_doc: int = 50) -> int:
    """Write .txt documents totalling about ``n_passages`` passages; returns the file count."""
    folder.mkdir(parents=True, exist_ok=True)
    n_docs = max(1, n_passages // per_doc)
    for doc in range(n_docs):
        lines = [f"关于{model.heading()}的通知", "各盟市科协：", model.paragraph()]
        for section in range(per_doc // 5):
            lines.append(f"{CN_NUMBERS[section % 10]}、{model.heading()}")
            for item in range(4):
                lines.append(f"（{CN_NUMBERS[item]}）{model.heading()}")
                lines.append(model.paragraph())
        lines += ["内蒙古自治区科学技术协会", f"2021年{doc % 12 + 1}月{doc % 28 + 1}日"]
        (folder / f"syn_{doc:05d}.txt").write_text("\n".join(lines), encoding="utf-8")
    return n_docs
