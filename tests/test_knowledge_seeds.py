"""Seed vectors: the bundled corpus's vectors ship with it, so a fresh checkout never embeds
them; they must cover the corpus (a change of corpus or chunking calls for regenerating them)
and equal what the model computes."""

from __future__ import annotations

import numpy as np
import pytest

from bot import PROJECT_ROOT
from bot.commands.knowledge import main as knowledge_main
from bot.services.knowledge import KnowledgeBase
from bot.services.knowledge.base import build_seeds
from bot.services.knowledge.dense import BundledE5, text_hash
from bot.services.knowledge.seeds import SEEDS_DIR, read_seeds, seed_file, write_seeds
from tests.test_knowledge_dense import NOTICE, VOLUNTEERS, CharEmbedder, corpus_folder

CORPUS = PROJECT_ROOT / "corpus"
BUNDLED_SEEDS = seed_file(CORPUS / SEEDS_DIR, BundledE5.key)
REGENERATE = "regenerate them: `stabot index --seed-vectors`, then commit corpus/vectors/"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The bundled corpus indexed (lexically: the hashes need no model)."""
    kb = KnowledgeBase(tmp_path_factory.mktemp("knowledge"))
    kb.ensure_corpus(CORPUS)
    return kb


def test_the_seed_file_covers_every_bundled_passage(bundled: KnowledgeBase) -> None:
    seeds = read_seeds(BUNDLED_SEEDS)
    hashes = set(bundled.passage_hashes())
    missing = hashes - set(seeds)
    assert not missing, f"{len(missing)} bundled passages have no seed vector; {REGENERATE}"
    assert not set(seeds) - hashes, f"seed vectors of passages no longer bundled; {REGENERATE}"


def test_seed_vectors_equal_the_models_own(bundled: KnowledgeBase) -> None:
    texts = bundled.embedded_texts()
    sample = [texts[0], texts[len(texts) // 2]]
    fresh = BundledE5().passages(sample)
    seeds = read_seeds(BUNDLED_SEEDS)
    for text, vector in zip(sample, fresh, strict=True):
        seeded = seeds[text_hash(text)]
        # float16 keeps about 3 significant digits of components of size ~0.05.
        assert np.allclose(seeded, vector, atol=1e-3), REGENERATE
        assert float(seeded @ vector) > 0.9999


def test_seeded_passages_are_never_embedded_and_new_documents_are(tmp_path) -> None:
    corpus = corpus_folder(tmp_path, notice=NOTICE)
    path, count = build_seeds(corpus, CharEmbedder())
    assert path == corpus / SEEDS_DIR / f"{CharEmbedder.key}.npz" and count >= 2
    model = CharEmbedder()
    kb = KnowledgeBase(tmp_path / "kb", embedder=model, seed_vectors=corpus / SEEDS_DIR)
    kb.ensure_corpus(corpus)
    # Every vector is there at once: the first answer takes the dense path.
    assert kb.dense_ready() and kb.vectors_missing() == 0 and model.embedded == []
    (corpus / "volunteers.txt").write_text(VOLUNTEERS, encoding="utf-8")
    kb.ensure_corpus(corpus)
    assert kb.vectors_missing() > 0
    assert kb.embed_now(timeout=30)
    assert model.embedded and all("志愿者" in text for text in model.embedded)


def test_a_passage_whose_text_changed_is_embedded_and_float16_is_undone(tmp_path) -> None:
    corpus = corpus_folder(tmp_path, notice=NOTICE)
    lexical = KnowledgeBase(tmp_path / "kb")
    lexical.ensure_corpus(corpus)
    hashes, texts = lexical.passage_hashes(), lexical.embedded_texts()
    model = CharEmbedder()
    # Seeds for every passage but the first, and for an older text of it.
    vectors = {h: model.query(t) for h, t in zip(hashes[1:], texts[1:], strict=True)}
    vectors[text_hash("旧的文字")] = model.query("旧的文字")
    write_seeds(seed_file(corpus / SEEDS_DIR, model.key), vectors, model.key)
    seeds = read_seeds(seed_file(corpus / SEEDS_DIR, model.key))
    assert all(abs(float(np.linalg.norm(v)) - 1) < 1e-6 for v in seeds.values())
    kb = KnowledgeBase(tmp_path / "kb", embedder=model, seed_vectors=corpus / SEEDS_DIR)
    assert kb.embed_now(timeout=30) and model.embedded == [texts[0]]


def test_seed_vectors_need_a_model(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("KNOWLEDGE_EMBEDDINGS", "none")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert knowledge_main(["index", "--seed-vectors"]) == 1
    assert "KNOWLEDGE_EMBEDDINGS" in capsys.readouterr().err
