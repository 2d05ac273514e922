"""The dense signal: vectors cached by passage content, computed in the background, kept in
step with the documents; a failing document stays lexical; the bundled and folder models."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.services.knowledge import KnowledgeBase
from bot.services.knowledge.dense import (
    VECTORS_DIR,
    VECTORS_FILE,
    BundledE5,
    ModelDirectory,
    load_embedder,
    open_embedder,
)

DIM = 32
NOTICE = (
    "关于开展科普讲座的通知\n一、时间安排\n每季度举办一次科普讲座，由各旗县科协组织。\n"
    "二、报送要求\n各单位在12月9日前报送活动总结，联系电话0471-1234567。\n"
)
VOLUNTEERS = (
    "关于招募科技志愿者的通知\n一、招募对象\n高校师生和企业科技人员均可报名成为科技志愿者。\n"
    "二、服务内容\n志愿者到社区开展科学普及和技术培训。\n"
)


class CharEmbedder:
    """A deterministic stand-in model: a normalised histogram of hashed characters."""

    key = "test-chars"
    center: float | None = None
    dim = DIM

    def __init__(self, *, fail_on: str | None = None, gate: threading.Event | None = None):
        self.embedded: list[str] = []
        self.fail_on = fail_on
        self.gate = gate

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail_on and any(self.fail_on in text for text in texts):
            raise RuntimeError("model crashed")
        self.embedded.extend(texts)
        return np.stack([self.query(text) for text in texts])

    def query(self, text: str) -> np.ndarray:
        vector = np.zeros(DIM, dtype=np.float32)
        for char in text:
            vector[ord(char) % DIM] += 1
        return vector / max(float(np.linalg.norm(vector)), 1e-9)


def corpus_folder(tmp_path: Path, **docs: str) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for name, text in docs.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def _cached(kb: KnowledgeBase, key: str = CharEmbedder.key) -> int:
    with np.load(kb.data_dir / VECTORS_DIR / key / VECTORS_FILE) as data:
        return len(data["hashes"])


def test_vectors_are_computed_once_and_cached_by_passage_content(tmp_path: Path) -> None:
    folder = corpus_folder(tmp_path, notice=NOTICE)
    model = CharEmbedder()
    kb = KnowledgeBase(tmp_path / "kb", embedder=model)
    kb.add_paths([folder])
    assert kb.embed_now(timeout=30)
    first = len(model.embedded)
    assert first == len(kb.snapshot().rows) and _cached(kb) == first
    # A new process on the same data dir: everything comes from the cache.
    again = CharEmbedder()
    restarted = KnowledgeBase(tmp_path / "kb", embedder=again)
    assert restarted.dense_ready() and again.embedded == []
    # A new document: only its passages are embedded.
    (folder / "volunteers.txt").write_text(VOLUNTEERS, encoding="utf-8")
    restarted.add_paths([folder / "volunteers.txt"])
    assert restarted.embed_now(timeout=30)
    assert again.embedded and all("志愿者" in text for text in again.embedded)
    assert _cached(restarted) == len(restarted.snapshot().rows)


def test_a_removed_or_replaced_document_leaves_no_stale_vectors(tmp_path: Path) -> None:
    folder = corpus_folder(tmp_path, notice=NOTICE, volunteers=VOLUNTEERS)
    kb = KnowledgeBase(tmp_path / "kb", embedder=CharEmbedder())
    infos = kb.add_paths([folder])
    assert kb.embed_now(timeout=30)
    total = _cached(kb)
    kb.remove(infos[1].doc_id)
    assert kb.embed_now(timeout=30)
    assert _cached(kb) == len(kb.snapshot().rows) < total
    (folder / "notice.txt").write_text(NOTICE.replace("每季度", "每半年"), encoding="utf-8")
    kb.add_paths([folder / "notice.txt"])
    assert kb.embed_now(timeout=30)
    hit = kb.answer("科普讲座多久举办一次？").hits[0]
    assert "每半年" in hit.text and _cached(kb) == len(kb.snapshot().rows)


def test_questions_are_answered_lexically_while_vectors_are_computed(tmp_path: Path) -> None:
    folder = corpus_folder(tmp_path, notice=NOTICE)
    gate = threading.Event()
    kb = KnowledgeBase(tmp_path / "kb", embedder=CharEmbedder(gate=gate))
    kb.add_paths([folder])
    answer = kb.answer("科普讲座多久举办一次？")
    assert "每季度" in answer.hits[0].text and not kb.dense_ready()
    gate.set()
    assert kb.embed_now(timeout=30)
    assert "每季度" in kb.answer("科普讲座多久举办一次？").hits[0].text


def test_a_document_that_fails_to_embed_is_answered_lexically_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = corpus_folder(tmp_path, notice=NOTICE, volunteers=VOLUNTEERS)
    model = CharEmbedder(fail_on="志愿者")
    kb = KnowledgeBase(tmp_path / "kb", embedder=model)
    with caplog.at_level(logging.ERROR, logger="bot.services.knowledge.dense"):
        kb.add_paths([folder])
        assert kb.embed_now(timeout=30)
        kb.rebuild()  # a new snapshot retries the failed document: no second log line
        assert kb.embed_now(timeout=30)
    failures = [r for r in caplog.records if "answered lexically" in r.getMessage()]
    assert len(failures) == 1
    assert "科技志愿者" in kb.answer("高校师生能报名当科技志愿者吗？").hits[0].text
    assert model.embedded and not any("志愿者" in text for text in model.embedded)


def test_a_model_that_cannot_load_leaves_answers_lexical(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert open_embedder(tmp_path / "no-such-model") is None
    assert "policy answers are lexical only" in caplog.text
    assert load_embedder("none") is None and load_embedder("") is None


def test_the_bundled_model_finds_a_paraphrase(tmp_path: Path) -> None:
    model = load_embedder("bundled")
    assert isinstance(model, BundledE5)
    folder = corpus_folder(tmp_path, notice=NOTICE, volunteers=VOLUNTEERS)
    kb = KnowledgeBase(tmp_path / "kb", embedder=model)
    kb.add_paths([folder])
    assert kb.embed_now(timeout=120)
    vectors = kb.snapshot().dense.matrix
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    answer = kb.answer("大学老师想去社区给居民做科普，可以吗？")
    assert "社区开展科学普及" in answer.hits[0].text  # the passage on going to communities


def _tiny_onnx_model(folder: Path) -> None:
    """A model folder as sentence-transformers exports one: an ONNX encoder whose output is a
    learned vector per token (a lookup table), a WordLevel tokenizer.json, CLS pooling and
    query/passage prompts."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["[CLS]", "[PAD]", "[UNK]", "query:", "passage:", "科普", "讲座", "志愿者", "报名"]
    vocab = {word: i for i, word in enumerate(words)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.enable_padding(pad_id=vocab["[PAD]"], pad_token="[PAD]")
    folder.mkdir(parents=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    table = np.random.default_rng(7).normal(size=(len(words), 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)],
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       ["batch", "seq", 8])],
        [numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (folder / "onnx").mkdir()
    onnx.save(model, str(folder / "onnx" / "model.onnx"))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True})
    )
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "passage": "passage: "}})
    )
    np.save(folder / "table.npy", table)


def test_a_model_folder_loads_through_onnxruntime_and_tokenizers(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    _tiny_onnx_model(folder)
    model = load_embedder(str(folder))
    assert isinstance(model, ModelDirectory) and model.pooling == "mean"
    table = np.load(folder / "table.npy")
    # "query: 科普 讲座" → mean of the three tokens' rows, normalised.
    expected = table[[3, 5, 6]].mean(axis=0)
    assert np.allclose(model.query("科普 讲座"), expected / np.linalg.norm(expected), atol=1e-5)
    vectors = model.passages(["科普 讲座", "志愿者 报名 报名"])  # padded to one length
    wanted = table[[4, 7, 8, 8]].mean(axis=0)
    assert np.allclose(vectors[1], wanted / np.linalg.norm(wanted), atol=1e-5)
    # It plugs into the knowledge base like the bundled model.
    docs = corpus_folder(tmp_path, notice=NOTICE)
    kb = KnowledgeBase(tmp_path / "kb", embedder=model)
    kb.add_paths([docs])
    assert kb.embed_now(timeout=30) and model.key.startswith("dir-")
    assert "每季度" in kb.answer("科普讲座多久举办一次？").hits[0].text
