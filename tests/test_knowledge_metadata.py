"""Metadata from metadata.json, or from the text: title, issuer, date, document number."""

from __future__ import annotations

import json

import pytest

from bot import PROJECT_ROOT
from bot.services.knowledge.lines import doc_number_key, logical_lines, parse_date
from bot.services.knowledge.metadata import Metadata, extract_metadata, load_metadata_file

CORPUS = PROJECT_ROOT / "corpus"
SIDECAR = json.loads((CORPUS / "metadata.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("row", SIDECAR[:4], ids=lambda row: row["file"][:3])
def test_text_extraction_matches_the_sidecar(row: dict[str, str | None]) -> None:
    text = (CORPUS / str(row["file"])).read_text(encoding="utf-8")
    meta = extract_metadata(logical_lines(text))
    assert meta == Metadata(row["title"], row["issuer"], row["date"], row["doc_number"])


def test_markdown_report_takes_its_h1_and_bracketed_date() -> None:
    text = (CORPUS / "004_fdbae197a6a803ac.txt").read_text(encoding="utf-8")
    meta = extract_metadata(logical_lines(text))
    assert meta.title == "在内蒙古科协八届三次全委会上的工作报告"
    assert meta.date == "2022-03-18"


def test_sidecar_is_read_and_wins_over_the_text() -> None:
    sidecar = load_metadata_file(CORPUS)
    assert sidecar["004_fdbae197a6a803ac.txt"].issuer == "内蒙古自治区科学技术协会"
    merged = Metadata(title="猜的标题").merged(sidecar["001_2b194d99716c1ff7.txt"])
    assert merged.title == "关于加强企业科协组织建设的意见"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021年11月23日", "2021-11-23"),
        ("二〇一六年九月五日", "2016-09-05"),
        ("二○二三年十二月三十一日印发", "2023-12-31"),
        ("（2022年3月18日）", "2022-03-18"),
        ("2021年2月30日", None),
    ],
)
def test_dates(text: str, expected: str | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("宁科协发[2017]212号", "宁科协发[2017]212号"),
        ("滁科协〔2016〕73号", "滁科协〔2016〕73号"),
        ("内科协字〔2021〕 5 号", "内科协字〔2021〕5号"),
        ("内科协发〔2026〕58号", "内科协发〔2026〕58号"),
        ("内科协发【2026】第58号", "内科协发【2026】第58号"),
        ("内科协发（2026）58号", "内科协发（2026）58号"),
        ("内科协发(2026)58号", "内科协发(2026)58号"),
        ("内科协发［2026］58号", "内科协发［2026］58号"),
        ("内科协发﹝2026﹞58号", "内科协发﹝2026﹞58号"),
        # Spaces from a PDF's text layer, between any two characters.
        ("内 科 协 发 〔 2026 〕 58 号", "内科协发〔2026〕58号"),
        ("内科协发〔2 0 2 6〕5 8号", "内科协发〔2026〕58号"),
        ("内科协发〔2026〕58号          签发人：王某", "内科协发〔2026〕58号"),
    ],
)
def test_document_numbers(line: str, number: str) -> None:
    text = f"{line}\n关于开展科普活动的通知\n各盟市科协：\n请认真落实。\n"
    assert extract_metadata(logical_lines(text)).doc_number == number


def test_a_number_cited_in_a_sentence_is_not_the_documents_own() -> None:
    text = ("关于转发科普工作要点的通知\n各旗县科协：\n"
            "根据内科协发〔2026〕3号文件要求，现转发给你们。\n呼科协发〔2026〕12号\n")
    assert extract_metadata(logical_lines(text)).doc_number == "呼科协发〔2026〕12号"
    cited = extract_metadata(logical_lines(text.replace("呼科协发〔2026〕12号\n", "")))
    assert cited.doc_number is None  # the number of the document it forwards is not its own


@pytest.mark.parametrize(
    "spelling",
    ["宁科协发[2017]212号", "宁科协发〔2017〕212号", "宁科协发【2017】第212号",
     "宁科协发 （２０１７） 212 号", "宁科协发﹝2017﹞212号"],
)
def test_document_number_spellings_compare_equal(spelling: str) -> None:
    assert doc_number_key(spelling) == "宁科协发〔2017〕212号"


def test_chinese_numeral_signature_date() -> None:
    text = "关于表彰的决定\n各旗县科协：\n现予表彰。\n某市科学技术协会\n二〇一九年五月八日\n"
    meta = extract_metadata(logical_lines(text))
    assert (meta.issuer, meta.date) == ("某市科学技术协会", "2019-05-08")
