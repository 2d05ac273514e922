"""Policy answers in chat: /ask, free questions, more sources, full section, /docs, uploads."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import docx
import pytest

from bot import PROJECT_ROOT
from bot.common.i18n import SUPPORTED, load_catalog
from bot.flows.ask import acknowledges, may_name_a_topic, reads_as_question
from bot.runtime import runtime_of
from bot.services import orgs, people
from bot.services.knowledge.errors import IngestCode, QuestionCode
from offline.updates import TgUser
from storage.db import transaction
from tests.harness import running_bot, sent_texts, toasts

LI = TgUser(id=50001, first_name="小李")
BOSS = TgUser(id=50002, first_name="省管理员")
CITY = TgUser(id=50003, first_name="市管理员")


@pytest.fixture
async def admins(sessions, clock):
    async with transaction(sessions) as session:
        tree = await orgs.create_demo_tree(session, now=clock.now())
        await people.grant_admin(session, telegram_id=BOSS.id, org_id=tree[0].id, now=clock.now())
        await people.grant_admin(session, telegram_id=CITY.id, org_id=tree[1].id, now=clock.now())


async def test_ask_command_answers_with_source_and_bold_words(kb_settings, clock):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(LI, "/ask 企业科技人员多少人要单独成立科协？")
    text = sent_texts(calls)[0]
    assert "30人以上（含30人）" in text.replace("<b>", "").replace("</b>", "")
    assert "<b>" in text
    assert ("《关于加强企业科协组织建设的意见》（宁夏回族自治区科学技术协会，宁科协发[2017]212号，"
            "2017-11-29）› 三、企业科协组织建设的方法措施") in text
    buttons = [b["text"] for row in calls[-1].params["reply_markup"]["inline_keyboard"]
               for b in row]
    assert buttons == ["更多来源", "查看全文"]


async def test_free_question_more_sources_and_full_section(kb_settings, clock):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(LI, "落实情况报告什么时候交？")
        first = sent_texts(calls)[0]
        answer = bot.keyboard_message(LI.id)
        calls = await bot.press(LI, "更多来源", message=answer)
        more = sent_texts(calls)[0]
        assert more.startswith("<b>“落实情况报告什么时候交？”的其他相关内容") and "2. " in more
        assert "12月9日" in first
        calls = await bot.press(LI, "查看全文", message=answer)
        section = sent_texts(calls)[0]
        assert "内蒙古自治区科学技术协会" in section and len(section) <= 4096


async def test_not_in_the_documents_points_to_docs(kb_settings, clock):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(LI, "/ask 手把肉咋煮才嫩？")
    assert "没有找到" in sent_texts(calls)[0] and "/docs" in sent_texts(calls)[0]


async def test_a_low_confidence_answer_shows_the_closest_passage_with_a_caution(
    kb_settings, clock
):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(LI, "/ask 科协的食堂几点开饭？")
        sure = await bot.text(LI, "/ask 民营企业搞技术的人够多少就得单独建科协？")
    (text,) = sent_texts(calls)
    assert text.startswith("文件里可能没有直接回答这个问题，下面是最接近的内容：")
    assert "—— 《" in text  # the same source line as a confident answer
    labels = [b["text"] for row in calls[-1].params["reply_markup"]["inline_keyboard"]
              for b in row]
    assert labels == ["更多来源", "查看全文"]
    assert "可能没有直接回答" not in sent_texts(sure)[0]


async def test_the_bundled_model_answers_at_once_from_the_seed_vectors(kb_settings, clock):
    """The bot as shipped: the bundled model, whose corpus vectors come with the repository,
    so the first question already takes the dense path (nothing is embedded here)."""
    settings = kb_settings.model_copy(
        update={"knowledge": kb_settings.knowledge.model_copy(update={"embeddings": "bundled"})}
    )
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, "/ask 科普信息员队伍要建成什么样子")
        answer = bot.keyboard_message(LI.id)
        more = sent_texts(await bot.press(LI, "更多来源", message=answer))[0]
        kb = await runtime_of(bot.app).policy.knowledge_base()
    text, more = (re.sub("</?b>", "", reply) for reply in (sent_texts(calls)[0], more))
    assert kb.dense_ready() and kb.vectors_missing() == 0
    # A confident answer: 004's passage on the three teams, 科普信息员队伍 among them, then
    # 000's on what the information officers' team is to be.
    assert "可能没有直接回答" not in text
    assert "建强用好“三支队伍”" in text and "科普信息员队伍人数达到 44.3 万人" in text
    assert "《在内蒙古科协八届三次全委会上的工作报告》" in text
    assert "以企业职工为主体，以手机终端为阵地和媒介" in more


@pytest.mark.parametrize(
    ("question", "expected"),
    [("🙂🙂🙂", "请用文字提问"), ("How many members?", "请用中文提问"),
     ("企业科协" * 1250 + "？", "问题太长了")],
)
async def test_bad_questions_get_a_clear_message(kb_settings, clock, question, expected):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(LI, f"/ask {question}")
        empty = await bot.text(LI, "/ask")
    assert expected in sent_texts(calls)[0]
    assert "请在 /ask 后面写上问题" in sent_texts(empty)[0]


QUESTIONS = [
    "科普讲座多久举办一次", "活动总结几时交", "哪些单位可以申报", "材料丢了怎么办",
    "企业科协是否需要备案", "需不需要盖章", "能不能线上报名", "要不要先备案", "有没有补贴",
    "报名截止是哪天", "谁负责审核", "咋申请科普e站", "申报要啥材料", "是不是每年都要评",
    "几点开始", "多长时间能批下来", "科普大篷车一共配了几辆", "可以报销么", "能报销吗，谢谢",
    "总结交没交", "企业科协成立有什么规定", "申报的要求", "How many members?",
    # English asks with its first word, question mark or not.
    "what does 两翼 mean", "how many people to set up an enterprise association",
    "Is the summary due in December", "when is the deadline", "Can liaisons log online",
]
ACKNOWLEDGEMENTS = [
    "好的", "收到", "谢谢", "明白了", "👍", "ok", "OK", "好的，谢谢！", "收到，马上办", "知道了",
    "辛苦了", "嗯嗯", "没问题", "好", "谢谢老师", "收到了，谢谢", "收到，按要求办理",
    "好的，按规定执行", "哪怕下雨也照常举办",
]


@pytest.mark.parametrize(("text", "asks"),
                         [(q, True) for q in QUESTIONS] + [(a, False) for a in ACKNOWLEDGEMENTS])
def test_what_reads_as_a_question(text, asks):
    assert reads_as_question(text) is asks


async def test_acknowledgements_are_not_answered_and_questions_are(kb_settings, clock):
    async with running_bot(kb_settings, clock) as bot:
        baseline = sent_texts(await bot.text(LI, "今天天气不错"))
        for text in ACKNOWLEDGEMENTS:
            # An acknowledgement gets no answer at all; other chatter what any text gets.
            expected = [] if acknowledges(text) else baseline
            assert sent_texts(await bot.text(LI, text)) == expected, text
        calls = await bot.text(LI, "内蒙古的科普大篷车一共配了几辆")
    assert "119 辆" in sent_texts(calls)[0].replace("<b>", "").replace("</b>", "")


async def test_a_member_asking_about_an_activity_gets_no_activity_form(kb_settings, clock,
                                                                       admins):
    async with running_bot(kb_settings, clock) as bot:
        asked = sent_texts(await bot.text(BOSS, "昨天的科普讲座需不需要拍照"))
        # The same member's report does start the activity form.
        calls = await bot.text(BOSS, "昨天在青山区社区开展科普讲座，约120人参加")
    report = "\n".join(sent_texts(calls))
    assert len(asked) == 1 and "可能没有直接回答" in asked[0]
    assert "青山区社区" in report and "120" in report and "没有找到" not in report


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [(LI, "企业科协" * 150 + "怎么成立？", "问题太长了（最多 500 个字）"),
     (LI, "今天我们开了一个会。" * 60, "问题太长了（最多 500 个字）"),
     (TgUser(id=50011, first_name="Ann", language_code="en"), "科协" * 300,
      "The question is too long (at most 500 characters)")],
)
async def test_a_long_free_text_is_told_it_is_too_long(kb_settings, clock, user, text, expected):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(user, text)
    assert [expected in reply for reply in sent_texts(calls)] == [True]


async def test_docs_lists_documents_and_manager_removes_one(kb_settings, clock, admins):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(LI, "/docs")
        assert "已收录 5 份文件" in sent_texts(calls)[0]
        assert calls[-1].params.get("reply_markup") is None
        await bot.text(BOSS, "/docs")
        await bot.press(BOSS, "删除 2")
        assert "确定删除《关于加强企业科协组织建设的意见》" in bot.last_text(BOSS.id)
        await bot.press(BOSS, "确定删除")
        calls = await bot.text(LI, "/ask 企业科技人员多少人要单独成立科协？")
        assert "30人以上（含30人）" not in sent_texts(calls)[0]
        calls = await bot.text(LI, "/docs")
        assert "已收录 4 份文件" in sent_texts(calls)[0]


def _docx(path: Path, paragraphs: list[str]) -> Path:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(path)
    return path


async def test_manager_uploads_a_docx_confirms_and_it_answers(kb_settings, clock, admins,
                                                               tmp_path):
    source = _docx(tmp_path / "notice.docx", [
        "关于开展2026年科技志愿服务月活动的通知", "各盟市科协：",
        "一、活动时间", "科技志愿服务月活动时间为2026年5月1日至5月31日。",
        "二、报送要求", "请于6月10日前报送活动总结，联系人：张敏，电话0471-1234567。",
        "内蒙古自治区科学技术协会", "2026年3月1日"])
    async with running_bot(kb_settings, clock) as bot:
        data = source.read_bytes()
        calls = await bot.feed(bot.factory.document(
            BOSS, data, "notice.docx",
            mime_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document"))
        summary = sent_texts(calls)[-1]
        assert "已读取 notice.docx" in summary and "即将收录" in summary
        assert "关于开展2026年科技志愿服务月活动的通知" in summary and "2026-03-01" in summary
        calls = await bot.press(BOSS, "确认提交")
        assert "已收录《关于开展2026年科技志愿服务月活动的通知》" in sent_texts(calls)[0]
        calls = await bot.text(LI, "/ask 志愿服务月活动总结什么时候报送？")
        assert "6月10日" in sent_texts(calls)[0]
        again = await bot.feed(bot.factory.document(BOSS, data, "copy.docx"))
        assert "已经收录过了" in sent_texts(again)[-1]
    assert not list((kb_settings.data_dir / "uploads").glob("*/*"))


def _volunteer_notice(path: Path, deadline: str, number: str | None = None) -> Path:
    header = ["内蒙古自治区科学技术协会文件", number] if number else []
    return _docx(path, [
        *header, "关于开展2026年科技志愿服务月活动的通知", "各盟市科协：",
        "一、报送要求", f"请于{deadline}前报送志愿服务月活动总结。",
        "内蒙古自治区科学技术协会", "2026年3月1日"])


async def test_a_file_of_an_indexed_name_is_announced_and_replaces_it(kb_settings, clock, admins,
                                                                     tmp_path):
    old = _volunteer_notice(tmp_path / "old.docx", "6月10日").read_bytes()
    new = _volunteer_notice(tmp_path / "new.docx", "7月15日").read_bytes()
    async with running_bot(kb_settings, clock) as bot:
        await bot.feed(bot.factory.document(BOSS, old, "志愿服务月.docx"))
        await bot.press(BOSS, "确认提交")
        calls = await bot.feed(bot.factory.document(BOSS, new, "志愿服务月.docx"))
        summary = sent_texts(calls)[-1]
        assert "已收录过同名文件 志愿服务月.docx" in "\n".join(sent_texts(calls))
        assert "替换：《关于开展2026年科技志愿服务月活动的通知》" in summary
        calls = await bot.press(BOSS, "确认提交")
        assert "已用新版本替换《关于开展2026年科技志愿服务月活动的通知》" in sent_texts(calls)[0]
        calls = await bot.text(LI, "/ask 志愿服务月活动总结什么时候报送？")
        assert "7月15日" in sent_texts(calls)[0] and "6月10日" not in sent_texts(calls)[0]
        calls = await bot.text(LI, "/docs")
        assert "已收录 6 份文件" in sent_texts(calls)[0]


async def test_a_corpus_document_replaced_in_chat_in_english(kb_settings, clock, admins):
    english = TgUser(id=BOSS.id, first_name=BOSS.first_name, language_code="en")
    name = "001_2b194d99716c1ff7.txt"
    text = (PROJECT_ROOT / "corpus" / name).read_text(encoding="utf-8")
    changed = text.replace("30人以上（含30人）", "50人以上（含50人）").encode()
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.feed(bot.factory.document(english, changed, name))
        assert f"A file named {name} is already indexed" in "\n".join(sent_texts(calls))
        calls = await bot.press(english, "Confirm")
        assert sent_texts(calls)[0].startswith("Replaced “关于加强企业科协组织建设的意见”")
        calls = await bot.text(LI, "/ask 企业科技人员多少人要单独成立科协？")
        assert "50人以上（含50人）" in sent_texts(calls)[0].replace("<b>", "").replace("</b>", "")
        calls = await bot.text(LI, "/docs")
        assert "已收录 5 份文件" in sent_texts(calls)[0]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [("photo.jpg", b"\xff\xd8\xff", "只支持 .txt、.md、.docx 和 .pdf"),
     ("broken.docx", b"PK\x03\x04 not really a zip", "已损坏"),
     ("broken.pdf", b"%PDF-1.4 garbage", "已损坏"),
     ("empty.txt", b"", "空文件")],
)
async def test_bad_uploads_are_refused_and_nothing_is_indexed(kb_settings, clock, admins, name,
                                                              data, expected):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.feed(bot.factory.document(BOSS, data, name))
        assert expected in sent_texts(calls)[-1]
        calls = await bot.text(BOSS, "/docs")
        assert "已收录 5 份文件" in sent_texts(calls)[0]


async def test_city_admin_and_liaison_cannot_manage_the_library(kb_settings, clock, admins):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.feed(bot.factory.document(CITY, b"hello world text", "a.txt"))
        assert "没看懂" in sent_texts(calls)[-1]
        await bot.text(CITY, "/docs")
        assert not bot.api.last_message(CITY.id).get("reply_markup")  # no buttons, none empty


def test_every_refusal_and_question_code_has_a_message():
    for locale in SUPPORTED:
        catalog = load_catalog(locale)
        for code in IngestCode:
            assert f"docs.refused.{code}" in catalog
            assert f"cli.index.refused.{code}" in catalog
        for code in QuestionCode:
            assert f"ask.bad.{code}" in catalog


async def test_old_more_sources_button_of_another_user_is_refused(kb_settings, clock):
    async with running_bot(kb_settings, clock) as bot:
        await bot.text(LI, "/ask 企业科技人员多少人要单独成立科协？")
        answer = bot.keyboard_message(LI.id)
        stranger = TgUser(id=50009, first_name="陌生人")
        data = answer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        calls = await bot.feed(bot.factory.callback(stranger, data, answer))
    assert toasts(calls) and not sent_texts(calls)


EN_LI = TgUser(id=50012, first_name="Li", language_code="en")
NUMBERED_QUESTION = "/ask 企业科技人员多少人要单独成立科协？"  # answered by 001, which has a 文号
UNNUMBERED_QUESTION = "/ask “两中心”指的是哪两个中心？"  # answered by 004, which has none


@pytest.mark.parametrize(
    ("user", "question", "expected"),
    [
        (LI, NUMBERED_QUESTION,
         "—— 《关于加强企业科协组织建设的意见》（宁夏回族自治区科学技术协会，宁科协发[2017]212号，"
         "2017-11-29）› 三、"),
        (LI, UNNUMBERED_QUESTION,
         "—— 《在内蒙古科协八届三次全委会上的工作报告》（内蒙古自治区科学技术协会，"
         "2022-03-18）› "),
        (EN_LI, NUMBERED_QUESTION,
         "— “关于加强企业科协组织建设的意见” (宁夏回族自治区科学技术协会, 宁科协发[2017]212号, "
         "2017-11-29) › 三、"),
        (EN_LI, UNNUMBERED_QUESTION,
         "— “在内蒙古科协八届三次全委会上的工作报告” (内蒙古自治区科学技术协会, 2022-03-18) › "),
    ],
)
async def test_the_source_line_names_the_document_number_when_there_is_one(
    kb_settings, clock, user, question, expected
):
    async with running_bot(kb_settings, clock) as bot:
        answer = sent_texts(await bot.text(user, question))[0]
        section = sent_texts(await bot.press(user, "全文" if user is LI else "Full"))[0]
    assert expected in answer
    assert section.startswith(expected)
    for text in (answer, section):
        assert "None" not in text and "，，" not in text and ", ," not in text and "()" not in text


async def test_more_sources_cite_each_document_with_its_number(kb_settings, clock):
    sidecar = json.loads((PROJECT_ROOT / "corpus" / "metadata.json").read_text(encoding="utf-8"))
    numbers = {row["title"]: row["doc_number"] for row in sidecar}
    async with running_bot(kb_settings, clock) as bot:
        await bot.text(LI, "/ask 企业科协组织建设有哪些要求")
        more = sent_texts(await bot.press(LI, "更多来源"))[0]
    cited = re.findall(r"—— 《(.+?)》（([^）]*)）› ", more)
    assert len(cited) >= 2
    for title, details in cited:
        parts = details.split("，")
        expected = 3 if numbers[title] else 2
        assert len(parts) == expected and all(parts), details
        assert numbers[title] is None or parts[1] == numbers[title]


async def test_docs_lists_the_document_numbers(kb_settings, clock):
    async with running_bot(kb_settings, clock) as bot:
        docs = sent_texts(await bot.text(LI, "/docs"))[0]
        english = sent_texts(await bot.text(EN_LI, "/docs"))[0]
    assert "（宁夏回族自治区科学技术协会，宁科协发[2017]212号，2017-11-29，" in docs
    assert "（滁州市科学技术协会，滁科协〔2016〕73号，2016-09-05，" in docs
    assert "（内蒙古自治区科学技术协会，2021-11-23，" in docs
    assert "(宁夏回族自治区科学技术协会, 宁科协发[2017]212号, 2017-11-29, " in english
    assert "None" not in docs and "，，" not in docs


async def test_an_uploaded_docx_takes_its_number_from_the_text(kb_settings, clock, admins,
                                                               tmp_path):
    source = _volunteer_notice(tmp_path / "月.docx", "6月10日", "内科协发〔2026〕58号")
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.feed(bot.factory.document(BOSS, source.read_bytes(), "志愿服务月.docx"))
        assert "请核对标题、日期和文号" in sent_texts(calls)[0]
        assert "• 文号：内科协发〔2026〕58号" in sent_texts(calls)[-1]
        await bot.press(BOSS, "确认提交")
        answer = sent_texts(await bot.text(LI, "/ask 志愿服务月活动总结什么时候报送？"))[0]
        docs = sent_texts(await bot.text(LI, "/docs"))[0]
    assert "（内蒙古自治区科学技术协会，内科协发〔2026〕58号，2026-03-01）› 一、报送要求" in answer
    title = "《关于开展2026年科技志愿服务月活动的通知》"
    assert f"{title}（内蒙古自治区科学技术协会，内科协发〔2026〕58号，2026-03-01，" in docs


async def test_an_admin_corrects_or_removes_the_number_before_indexing(kb_settings, clock, admins):
    # A PDF's text layer often spaces characters out; the number is read all the same.
    text = ("滁 科 协 〔 2026 〕 第 9 号\n关于举办科普讲解大赛的通知\n各县（市、区）科协：\n"
            "请于5月8日前报送参赛名单。\n滁州市科学技术协会\n2026年3月2日\n")
    other = text.replace("科普讲解大赛", "科普微视频大赛")
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.feed(bot.factory.document(BOSS, text.encode(), "讲解大赛.txt"))
        assert "• 文号：滁科协〔2026〕第9号" in sent_texts(calls)[-1]
        await bot.press(BOSS, "修改文号")
        assert "没有文号可跳过" in bot.last_text(BOSS.id)
        bad = sent_texts(await bot.text(BOSS, "第九"))[0]
        assert "文号无法识别" in bad
        calls = await bot.text(BOSS, "滁科协〔2026〕10号")
        assert "• 文号：滁科协〔2026〕10号" in sent_texts(calls)[-1]
        await bot.press(BOSS, "确认提交")
        await bot.feed(bot.factory.document(BOSS, other.encode(), "微视频大赛.txt"))
        await bot.press(BOSS, "修改文号")
        await bot.press(BOSS, "跳过")
        await bot.press(BOSS, "确认提交")
        docs = sent_texts(await bot.text(LI, "/docs"))[0]
    assert "《关于举办科普讲解大赛的通知》（滁州市科学技术协会，滁科协〔2026〕10号，" in docs
    assert "《关于举办科普微视频大赛的通知》（滁州市科学技术协会，2026-03-02，" in docs


# --- a keyword typed alone, English questions ----------------------------------------------

KEYWORDS = ["两翼", "学会服务站", "科普大篷车", "三长"]


@pytest.mark.parametrize("keyword", KEYWORDS)
async def test_a_keyword_alone_is_answered_as_what_it_is(kb_settings, clock, admins, keyword):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(BOSS, keyword)  # a registered member: the quick log is theirs
        labels = [b["text"] for row in calls[-1].params["reply_markup"]["inline_keyboard"]
                  for b in row]
        asked = await bot.text(BOSS, f"{keyword}是什么")
    (text,) = sent_texts(calls)
    assert text == sent_texts(asked)[0]  # the same passage, source and words in bold
    assert f"<b>{keyword}</b>" in text and "—— 《" in text and "可能没有直接回答" not in text
    assert labels == ["更多来源", "查看全文"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Reports still go to the quick log: a day, a head count, a verb of doing.
        ("昨天在社区办了科普讲座 50人", "我理解的是："),
        ("今天搞了个活动", "这像是一次活动的情况。要把它记下来吗？"),
        ("社区讲座80人", "我理解的是："),
        # Short texts the documents do not speak of: as before.
        ("张伟", "没看懂这条消息"),
        ("我是新来的", "没看懂这条消息"),
    ],
)
async def test_short_texts_that_are_no_keyword_pass_on(kb_settings, clock, admins, text,
                                                       expected):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(BOSS, text)
    replies = "\n".join(sent_texts(calls))
    assert expected in replies and "—— 《" not in replies


async def test_a_keyword_in_english_and_from_someone_not_registered(kb_settings, clock):
    english = TgUser(id=50013, first_name="Ann", language_code="en")
    async with running_bot(kb_settings, clock) as bot:
        answer = sent_texts(await bot.text(english, "三长"))[0]
        stranger = sent_texts(await bot.text(LI, "“两翼”"))[0]
    assert "<b>三长</b>" in answer and "— “在内蒙古科协八届三次全委会上的工作报告” (" in answer
    assert "坚持<b>两翼</b>并举" in stranger  # anyone may ask, registered or not


@pytest.mark.parametrize(
    ("user", "question", "expected"),
    [
        (LI, "what does 两翼 mean", "科技创新和科学普及是实现创新发展的两翼"),
        (EN_LI, "What does 三长 mean", "加大“三长”"),
        (LI, "how many people to set up an enterprise association",
         "文件都是中文的，请用中文提问"),
        (EN_LI, "Where do I hand in the summary", "The documents are in Chinese"),
    ],
)
async def test_english_questions_without_a_question_mark_are_questions(
    kb_settings, clock, user, question, expected
):
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(user, question)
    (text,) = sent_texts(calls)
    assert expected in text.replace("<b>", "").replace("</b>", "")


async def test_a_deadline_is_noted_once_it_has_passed(kb_settings, clock, admins, tmp_path):
    notice = _volunteer_notice(tmp_path / "月.docx", "6月10日").read_bytes()
    question = "/ask 志愿服务月活动总结什么时候报送？"
    async with running_bot(kb_settings, clock) as bot:
        await bot.feed(bot.factory.document(BOSS, notice, "志愿服务月.docx"))
        await bot.press(BOSS, "确认提交")
        ahead = sent_texts(await bot.text(LI, question))[0]
        clock.set(datetime(2026, 6, 11, 2, 0, tzinfo=UTC))  # the next morning in Hohhot
        passed = sent_texts(await bot.text(LI, question))[0]
    assert "6月10日" in ahead and "可能已不适用" not in ahead
    assert passed.endswith(
        "⚠️ 文中的“6月10日”出自 2026-03-01 的文件，指的是 2026-06-10，现在可能已不适用。"
    )


@pytest.mark.parametrize(
    ("text", "keyword"),
    [("两翼", True), ("学会服务站", True), ("科普讲座", True), ("企业科协组织建设", True),
     ("“三长”", True),
     # A question, an acknowledgement, a sentence, a command: their own routes'.
     ("两翼是什么", False), ("收到", False), ("关于在全区企业科协组织开展主题活动", False),
     ("/docs", False),
     # A day, a head count, a number of sessions, a verb of doing, 同上次: an activity.
     ("同上次", False), ("今天科普日", False), ("讲座50人", False), ("3场讲座", False),
     ("组织了讲座", False), ("开展科普宣传", False)],
)
def test_what_may_be_a_keyword(text, keyword):
    assert may_name_a_topic(text, date(2026, 3, 16)) is keyword
