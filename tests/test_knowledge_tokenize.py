"""The analyzer's fast paths give exactly what the plain computations give."""

from __future__ import annotations

import itertools
import random
import re
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from bot import PROJECT_ROOT
from bot.services.knowledge import KnowledgeBase
from bot.services.knowledge.index import TokenIds, merge_ids, token_ids
from bot.services.knowledge.tokenize import Analyzer, char_bigrams, nfkc, normalize

CORPUS = PROJECT_ROOT / "corpus"
STOP_CHARS = "的了和与及是在对把被等为之其"
RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[0-9a-z]+(?:[.][0-9]+)?")


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    """The bundled documents."""
    return [path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.txt"))]


def _random_strings(alphabet: str, count: int, seed: int) -> list[str]:
    """Reproducible random strings over ``alphabet``."""
    rng = random.Random(seed)
    return ["".join(rng.choices(alphabet, k=rng.randint(1, 24))) for _ in range(count)]


def test_nfkc_matches_unicodedata(corpus_texts: list[str]) -> None:
    # Every BMP block we fold and then some, combining marks included, plus common Chinese.
    alphabet = "".join(
        chr(c) for c in range(0x20, 0x3500) if unicodedata.category(chr(c)) not in ("Cs", "Cn")
    )
    alphabet += "".join(
        chr(c) for c in range(0xF900, 0xFFF0) if unicodedata.category(chr(c)) != "Cn"
    )
    samples = corpus_texts + _random_strings(alphabet + "科协企业" * 300, 5000, seed=7)
    for text in samples:
        assert nfkc(text) == unicodedata.normalize("NFKC", text)


def _reference_bigrams(norm: str) -> list[str]:
    """char_bigrams written plainly: pairs of each CJK run without stop characters."""
    out = []
    for run in RUN_RE.findall(norm):
        if len(run) == 1 or not "\u3400" <= run[0] <= "\u9fff":
            out.append(run)
        else:
            pairs = itertools.pairwise(run)
            out.extend(a + b for a, b in pairs if a not in STOP_CHARS and b not in STOP_CHARS)
    return out


def test_char_bigrams_match_reference(corpus_texts: list[str]) -> None:
    samples = [normalize(t) for t in corpus_texts]
    samples += _random_strings("的了是科协企业人才ab1.2 ，、", 3000, seed=3)
    for norm in samples:
        assert char_bigrams(norm) == _reference_bigrams(norm)


def test_per_document_ids_merge_to_one_pass() -> None:
    first = ["科协 企业 科协", "", "人才"]
    second = ["企业 创新 人才 人才", "科普"]
    merged_ids, merged_lengths, merged_vocab = merge_ids([TokenIds.of(first), TokenIds.of(second)])
    ids, lengths, vocab = token_ids(first + second)
    assert merged_vocab == vocab
    assert np.array_equal(merged_ids, ids)
    assert np.array_equal(merged_lengths, lengths)


def test_index_terms_match_plain_filtering(corpus_texts: list[str]) -> None:
    analyzer = Analyzer()
    stop, canonical = analyzer.vocabulary.stopwords, analyzer.vocabulary.canonical
    for text in corpus_texts[:2]:
        expected = [canonical.get(w, w) for w in analyzer.cut(normalize(text)) if w not in stop]
        assert analyzer.words(text) == expected
        # The second time every token comes from the table.
        assert analyzer.analyze(text)[0] == expected


def test_index_rebuilt_from_stored_passages_is_the_same(tmp_path: Path) -> None:
    """Ids numbered while ingesting and ids read back from the passages files agree."""
    kb = KnowledgeBase(tmp_path)
    kb.ensure_corpus(CORPUS)
    question = "企业科技人员多少人要单独成立科协？"
    first = kb.search(question)
    assert first
    first_vocab = kb.snapshot().index.bigrams.vocab
    shutil.rmtree(tmp_path / "index")
    again = KnowledgeBase(tmp_path)
    assert again.search(question) == first
    assert again.snapshot().index.bigrams.vocab == first_vocab
