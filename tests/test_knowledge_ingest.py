"""Ingestion: file types, bad input (typed errors, nothing half-indexed), duplicates."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.services.knowledge import IngestCode, IngestError, KnowledgeBase
from bot.services.knowledge.ingest import read_document
from tests.knowledge_support import write_docx, write_pdf

NOTICE_LINES = [
    "关于开展2024年科技志愿服务活动的通知",
    "各盟市科协：",
    "一、活动时间",
    "2024年9月1日至9月30日。",
    "二、报送要求",
    "请于10月8日前报送活动总结，联系电话：0471-1234567。",
]


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    """An empty knowledge base in a temporary data dir."""
    return KnowledgeBase(tmp_path / "kb")


def test_docx_is_read_with_word_headings(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = write_docx(
        tmp_path / "notice.docx",
        "关于开展科普讲座的通知",
        [("一、讲座安排", ["每月举办一次科普讲座，由科普专家团成员主讲。"])],
    )
    info = kb.add_file(path)
    assert info.title == "关于开展科普讲座的通知"
    hit = kb.search("科普讲座多久办一次？")[0]
    assert hit.section == "一、讲座安排"
    assert "每月举办一次" in hit.text


def test_chinese_pdf_is_read(kb: KnowledgeBase, tmp_path: Path) -> None:
    info = kb.add_file(write_pdf(tmp_path / "notice.pdf", NOTICE_LINES))
    assert info.title == "关于开展2024年科技志愿服务活动的通知"
    hits = kb.search("活动总结什么时候报送？")
    assert hits and "10月8日前报送" in hits[0].text


def test_metadata_arguments_override_the_text(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "n.pdf", NOTICE_LINES)
    info = kb.add_file(path, title="科技志愿服务通知", date="2024-08-01", issuer="某某科协")
    assert (info.title, info.date, info.issuer) == ("科技志愿服务通知", "2024-08-01", "某某科协")


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.txt", b"", IngestCode.EMPTY_FILE),
        ("sheet.xlsx", b"PK\x03\x04 not read", IngestCode.UNSUPPORTED_TYPE),
        ("broken.docx", b"PK\x03\x04 this is not a zip archive", IngestCode.BROKEN_FILE),
        (
            "broken.pdf",
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ntrailer garbage",
            IngestCode.BROKEN_FILE,
        ),
        ("blank.txt", "  \n\n  …  \n".encode(), IngestCode.NO_TEXT),
    ],
)
def test_bad_files_raise_typed_errors(
    kb: KnowledgeBase, tmp_path: Path, name: str, content: bytes, code: IngestCode
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as caught:
        kb.add_file(path)
    assert caught.value.code == code
    assert kb.documents() == []


def test_docx_without_its_document_part_is_broken(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "hollow.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(IngestError) as caught:
        kb.add_file(path)
    assert caught.value.code == IngestCode.BROKEN_FILE


def test_scanned_pdf_has_no_text(kb: KnowledgeBase, tmp_path: Path) -> None:
    with pytest.raises(IngestError) as caught:
        kb.add_file(write_pdf(tmp_path / "scan.pdf", []))
    assert caught.value.code == IngestCode.NO_TEXT


def test_fifty_megabytes_are_refused_before_reading(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse zeros: read, they would be a broken PDF
    with pytest.raises(IngestError) as caught:
        kb.add_file(path)
    assert caught.value.code == IngestCode.TOO_LARGE  # the size was looked at, not the bytes
    # How fast the refusal is: benchmarks/ingest_refusal.py (no timing in tests).


def test_a_file_under_the_limit_is_read(tmp_path: Path) -> None:
    """The counterpart of the refusal above: the same zeros under the limit are read."""
    path = tmp_path / "zeros.pdf"
    with path.open("wb") as handle:
        handle.truncate(1024)
    with pytest.raises(IngestError) as caught:
        read_document(path, max_bytes=2048)
    assert caught.value.code == IngestCode.BROKEN_FILE


def test_size_limit_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    path.write_text("\n".join(NOTICE_LINES), encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        read_document(path, max_bytes=10)
    assert caught.value.code == IngestCode.TOO_LARGE


def test_duplicate_content_is_refused_even_as_another_type(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    first = kb.add_file(write_pdf(tmp_path / "a.pdf", NOTICE_LINES))
    copy = tmp_path / "a-copy.txt"
    copy.write_text("\n".join(NOTICE_LINES) + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        kb.add_file(copy)
    assert caught.value.code == IngestCode.DUPLICATE
    assert caught.value.doc_id == first.doc_id
    assert len(kb.documents()) == 1


def test_a_bad_file_in_a_batch_leaves_nothing_half_indexed(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a.txt").write_text("\n".join(NOTICE_LINES), encoding="utf-8")
    (folder / "b.docx").write_bytes(b"not a docx")
    with pytest.raises(IngestError):
        kb.add_paths([folder])
    assert kb.documents() == []
    assert not list((kb.data_dir / "passages").glob("*.json"))
    assert kb.search("活动总结什么时候报送？") == []


def test_a_batch_can_collect_errors_and_go_on(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a.txt").write_text("\n".join(NOTICE_LINES), encoding="utf-8")
    (folder / "b.docx").write_bytes(b"not a docx")
    errors: list[tuple[Path, IngestError]] = []
    added = kb.add_paths([folder], errors=errors)
    assert [info.file_name for info in added] == ["a.txt"]
    assert [(path.name, error.code) for path, error in errors] == [
        ("b.docx", IngestCode.BROKEN_FILE)
    ]


def test_corpus_metadata_sidecar_is_used(kb: KnowledgeBase, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("004_fdbae197a6a803ac.txt", "metadata.json"):
        shutil.copy(PROJECT_ROOT / "corpus" / name, corpus / name)
    (info,) = kb.ensure_corpus(corpus)
    assert info.issuer == "内蒙古自治区科学技术协会"
    assert kb.ensure_corpus(corpus) == []


def test_inspect_describes_without_indexing(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "n.pdf", NOTICE_LINES)
    info = kb.inspect(path)
    assert info.title == "关于开展2024年科技志愿服务活动的通知"
    assert kb.documents() == []
    kb.add_file(path)
    with pytest.raises(IngestError) as caught:
        kb.inspect(path)
    assert caught.value.code == IngestCode.DUPLICATE
