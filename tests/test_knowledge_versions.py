"""Documents keyed by source: a changed file replaces its old version, a removed one goes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.services.knowledge import IngestCode, IngestError, KnowledgeBase
from tests.knowledge_support import write_docx

QUESTION = "志愿服务活动总结什么时候报送？"


def notice(deadline: str) -> str:
    """A small notice whose deadline tells its versions apart."""
    return "\n".join([
        "关于开展科技志愿服务活动的通知",
        "各盟市科协：",
        "一、活动时间",
        "2024年9月1日至9月30日。",
        "二、报送要求",
        f"请于{deadline}前报送志愿服务活动总结，联系电话：0471-1234567。",
    ])


def answers(kb: KnowledgeBase, question: str = QUESTION) -> str:
    """Every passage returned for a question, joined."""
    return "\n".join(hit.text for hit in kb.search(question, top_k=10))


def passage_files(kb: KnowledgeBase) -> set[str]:
    """The stored passages files' document ids."""
    return {path.stem for path in (kb.data_dir / "passages").glob("*.json")}


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    """An empty knowledge base in a temporary data dir."""
    return KnowledgeBase(tmp_path / "kb")


def test_a_changed_file_replaces_its_old_version(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "notice.txt"
    path.write_text(notice("10月8日"), encoding="utf-8")
    (old,) = kb.add_paths([path])
    path.write_text(notice("11月20日"), encoding="utf-8")
    (new,) = kb.add_paths([path])
    assert new.doc_id != old.doc_id and new.source == "notice.txt"
    assert [d.doc_id for d in kb.documents()] == [new.doc_id]
    found = answers(kb)
    assert "11月20日" in found and "10月8日" not in found
    assert passage_files(kb) == {new.doc_id}


def test_a_fresh_process_and_an_open_one_see_the_new_version(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    path = tmp_path / "notice.txt"
    path.write_text(notice("10月8日"), encoding="utf-8")
    kb.add_paths([path])
    reader = KnowledgeBase(kb.data_dir)
    assert "10月8日" in answers(reader)
    path.write_text(notice("11月20日"), encoding="utf-8")
    kb.add_paths([path])
    assert "11月20日" in answers(reader) and "10月8日" not in answers(reader)
    fresh = KnowledgeBase(kb.data_dir)
    assert "11月20日" in answers(fresh) and "10月8日" not in answers(fresh)
    current = json.loads((kb.data_dir / "index" / "current.json").read_text("utf-8"))
    assert [p.name for p in (kb.data_dir / "index").iterdir() if p.is_dir()] == [current["dir"]]


def test_a_new_docx_version_replaces_the_old_one(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "讲座.docx"
    write_docx(path, "关于开展科普讲座的通知", [("一、讲座安排", ["每月举办一次科普讲座。"])])
    first = kb.add_file(path)
    write_docx(path, "关于开展科普讲座的通知", [("一、讲座安排", ["每季度举办一次科普讲座。"])])
    info, replaced = kb.put_file(path)
    assert replaced == first and info.doc_id != first.doc_id
    found = answers(kb, "科普讲座多久办一次？")
    assert "每季度举办一次" in found and "每月举办一次" not in found
    assert [d.title for d in kb.documents()] == ["关于开展科普讲座的通知"]


def test_a_new_version_that_fails_to_read_keeps_the_old_one(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    good = write_docx(tmp_path / "讲座.docx", "关于开展科普讲座的通知",
                      [("一、讲座安排", ["每月举办一次科普讲座。"])])
    (old,) = kb.add_paths([good])
    good.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(IngestError) as caught:
        kb.add_paths([good])
    assert caught.value.code == IngestCode.BROKEN_FILE
    errors: list[tuple[Path, IngestError]] = []
    assert kb.add_paths([good], errors=errors) == []
    assert [error.code for _, error in errors] == [IngestCode.BROKEN_FILE]
    with pytest.raises(IngestError):
        kb.add_file(good)
    assert kb.documents() == [old]
    assert "每月举办一次" in answers(KnowledgeBase(kb.data_dir), "科普讲座多久办一次？")


def test_the_same_content_is_not_indexed_twice(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "notice.txt"
    path.write_text(notice("10月8日"), encoding="utf-8")
    (info,) = kb.add_paths([path])
    assert kb.add_paths([path], skip_duplicates=True) == []
    with pytest.raises(IngestError) as caught:
        kb.add_file(path)
    assert (caught.value.code, caught.value.doc_id) == (IngestCode.DUPLICATE, info.doc_id)
    assert kb.documents() == [info]


def test_a_new_version_keeps_its_place_among_the_documents(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(notice("10月8日"), encoding="utf-8")
    lecture = "# 关于科普讲座的通知\n\n## 一、安排\n\n每季度举办一次科普讲座。\n"
    (folder / "b.md").write_text(lecture, encoding="utf-8")
    kb.add_paths([folder])
    (folder / "a.txt").write_text(notice("11月20日"), encoding="utf-8")
    assert [d.source for d in kb.add_paths([folder], skip_duplicates=True)] == ["a.txt"]
    assert [d.source for d in kb.documents()] == ["a.txt", "b.md"]


LECTURE = "# 关于开展科普讲座的通知\n\n## 一、讲座安排\n\n{often}举办一次科普讲座，由专家主讲。\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A corpus folder of two notices."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "volunteers.txt").write_text(notice("10月8日"), encoding="utf-8")
    (folder / "lecture.md").write_text(LECTURE.format(often="每月"), encoding="utf-8")
    return folder


def test_a_removed_corpus_file_leaves_the_index(kb: KnowledgeBase, corpus: Path) -> None:
    assert len(kb.ensure_corpus(corpus)) == 2
    (corpus / "volunteers.txt").unlink()
    assert kb.ensure_corpus(corpus) == []
    assert [d.source for d in kb.documents()] == ["lecture.md"]
    assert "10月8日" not in answers(KnowledgeBase(kb.data_dir))
    assert len(passage_files(kb)) == 1


def test_a_changed_corpus_file_is_a_new_version(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ensure_corpus(corpus)
    (corpus / "lecture.md").write_text(LECTURE.format(often="每季度"), encoding="utf-8")
    (changed,) = kb.ensure_corpus(corpus)
    assert changed.source == "lecture.md" and changed.origin == "corpus"
    found = answers(KnowledgeBase(kb.data_dir), "科普讲座多久办一次？")
    assert "每季度举办一次" in found and "每月举办一次" not in found
    assert [d.source for d in kb.documents()] == ["lecture.md", "volunteers.txt"]


def test_a_corpus_file_that_breaks_keeps_its_old_version(
    kb: KnowledgeBase, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kb.ensure_corpus(corpus)
    before = kb.documents()
    (corpus / "lecture.md").write_bytes(b"\xff\xfe\x00")
    changes = kb.sync_corpus(corpus)
    broken = [(path.name, error.code) for path, error in changes.errors]
    assert broken == [("lecture.md", IngestCode.BROKEN_FILE)]
    assert kb.documents() == before
    assert kb.ensure_corpus(corpus) == []  # the scan is remembered: no retry on every start
    (corpus / "volunteers.txt").write_bytes(b"")
    with caplog.at_level("WARNING"):
        assert kb.ensure_corpus(corpus) == []
    assert "volunteers.txt not indexed: empty_file" in caplog.text
    assert kb.documents() == before


def test_a_renamed_corpus_file_keeps_its_content(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ensure_corpus(corpus)
    (corpus / "volunteers.txt").rename(corpus / "志愿服务.txt")
    (renamed,) = kb.ensure_corpus(corpus)
    assert renamed.source == "志愿服务.txt"
    assert sorted(d.source for d in kb.documents()) == ["lecture.md", "志愿服务.txt"]
    assert "10月8日" in answers(kb)


def test_an_admin_upload_of_a_corpus_name_is_kept(
    kb: KnowledgeBase, corpus: Path, tmp_path: Path
) -> None:
    kb.ensure_corpus(corpus)
    upload = tmp_path / "uploads" / "volunteers.txt"
    upload.parent.mkdir()
    upload.write_text(notice("12月1日"), encoding="utf-8")
    _, replaced = kb.put_file(upload)
    assert replaced is not None and replaced.origin == "corpus"
    (corpus / "new.md").write_text(LECTURE.format(often="每周"), encoding="utf-8")
    kb.ensure_corpus(corpus)
    assert "12月1日" in answers(kb) and "10月8日" not in answers(kb)
    other = tmp_path / "uploads" / "own.md"
    other.write_text(LECTURE.format(often="每年"), encoding="utf-8")
    kb.add_file(other)
    (corpus / "new.md").unlink()
    kb.ensure_corpus(corpus)
    assert sorted(d.source for d in kb.documents()) == ["lecture.md", "own.md", "volunteers.txt"]


def test_a_registry_from_before_sources_follows_the_corpus(
    kb: KnowledgeBase, corpus: Path, tmp_path: Path
) -> None:
    kb.ensure_corpus(corpus)
    upload = tmp_path / "own.md"
    upload.write_text(LECTURE.format(often="每年"), encoding="utf-8")
    kb.add_file(upload)
    registry = kb.data_dir / "documents.json"
    payload = json.loads(registry.read_text("utf-8"))
    for row in payload["documents"]:
        del row["source"], row["origin"]
    registry.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    (corpus / "volunteers.txt").unlink()
    kb.ensure_corpus(corpus)
    assert sorted(d.file_name for d in KnowledgeBase(kb.data_dir).documents()) == [
        "lecture.md",
        "own.md",
    ]


def test_a_document_an_admin_removed_returns_only_as_new_content(
    kb: KnowledgeBase, corpus: Path
) -> None:
    kb.ensure_corpus(corpus)
    lecture = kb.document_at("lecture.md")
    assert lecture is not None
    kb.remove(lecture.doc_id)
    (corpus / "new.md").write_text(LECTURE.format(often="每周"), encoding="utf-8")
    assert [d.source for d in kb.ensure_corpus(corpus)] == ["new.md"]
    (corpus / "lecture.md").write_text(LECTURE.format(often="每季度"), encoding="utf-8")
    assert [d.source for d in kb.ensure_corpus(corpus)] == ["lecture.md"]
