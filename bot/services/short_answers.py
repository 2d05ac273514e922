"""What a short typed answer to a form means: yes, no, "none" (skip), or a question about the
step itself. One reader for every form and channel, so a typed "是的" at a yes / no question is
read the same way everywhere and never lands in a field.

People answer buttons by typing as often as by pressing: at "确定取消吗？" they write 是的, at
the photo step 没有照片, at the title step 这里要填什么？. Each reader here matches the whole
message (after trimming punctuation and particles), never a part of it: 好 is a yes, while
"好好学习科普讲座" is a title, and "垃圾分类，你做对了吗？" is a title too, not a question.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

# Punctuation, emoji-free trailing particles and spaces that change nothing in a short answer.
_EDGES = " \t\n.。!！~～,，、…?？"
_PARTICLES = re.compile(r"(?:的|啊|呀|吧|啦|哈|呢|嘛|哦|噢|喔)+$")

YES = frozenset(
    {
        "是", "是的", "是啊", "对", "对的", "对啊", "没错", "确定", "确认", "好", "好的", "行",
        "可以", "嗯", "嗯嗯", "要", "需要", "同意", "yes", "y", "yeah", "yep", "sure", "ok",
        "okay", "confirm", "correct", "right",
    }
)  # fmt: skip
NO = frozenset(
    {
        "不", "不是", "不对", "否", "算了", "取消", "不要", "不用", "不需要", "没有", "不行",
        "不同意", "no", "n", "nope", "not", "cancel",
    }
)  # fmt: skip
# "Nothing to give" at an optional step (the photo step's 没有照片, 不用了): the skip button.
_NOTHING = re.compile(
    r"(?:没有?|无|暂无|暂时没有|不用|不需要|不要|不必|免|跳过|略过?|不)"
    r"(?:照片|图片|相片|附件|文件|简介|说明|内容|拍|拍照|上传|发|填|写|了)*"
    r"|skip|none|no|nothing|n/?a|no (?:photos?|pictures?|files?|attachments?|summary)"
)
# A question about the step, whole: an optional "this / here" and "should", then what to write
# (填什么, 写啥, 怎么填), what it means (什么意思, 指什么), or a bare 什么 / 啥 / ?.
_HERE = r"(?:这里|这儿|这边|此处|这个|这项|这一?步|这一?栏|这一?项|这|那)?"
_MUST = r"(?:是|要|应该|该|需要|得|可以)?"
_WHAT = r"(?:什么|啥|哪些|哪个)"
_FIELD_QUESTION_ZH = re.compile(
    rf"{_HERE}{_MUST}(?:"
    rf"(?:填|写|输入?|填写|发|选)(?:点|些)?{_WHAT}(?:内容|东西|好)?"
    r"|(?:怎么|咋|如何|怎样)(?:填|写|输入?|填写|弄|办|回答)"
    rf"|(?:是)?{_WHAT}意思|指(?:的是)?{_WHAT}|是{_WHAT}|{_WHAT}"
    r"|不(?:懂|明白|知道|会)(?:要|该|怎么)?(?:填|写)?(?:什么|啥)?"
    r")(?:呢|啊|呀|哦|嘛)?"
)
_FIELD_QUESTION_EN = re.compile(
    r"(?:what|how)(?: (?:do|should|shall|can|must) (?:i|we))? "
    r"(?:write|enter|put|fill(?: in)?|type|answer)(?: (?:here|in|this|it))*"
    r"|what (?:does|do) (?:this|that|it) mean|what(?:'s| is) (?:this|that)(?: for)?"
    r"|what (?:goes|should go|to (?:write|put|enter)) here|what|huh|example|help"
)




class Nav(StrEnum):
    """A form's navigation button, as its word typed out."""

    BACK = "back"  # 上一步
    CANCEL = "cancel"  # 取消
    NEXT = "next"  # the step's own "move on" button: 下一栏, 完成


# The words of the navigation buttons as people type them instead of pressing: the whole
# message only, so 返回 is "back" while 返回家乡的大学生 is a title.
_NAV_WORDS = {
    Nav.BACK: frozenset({"上一步", "返回", "后退", "回退", "back", "go back", "previous"}),
    Nav.CANCEL: frozenset({"取消", "不填了", "不填", "cancel"}),
    Nav.NEXT: frozenset(
        {"下一栏", "下一步", "写完了", "写完", "写好了", "完成", "好了", "填完了", "next", "done"}
    ),
}


def navigation_word(text: str) -> Nav | None:
    """The navigation button a typed message names, exactly (上一步, 取消吧, 写完了。, done);
    None for anything else."""
    plain = _plain(text)
    for candidate in (plain, plain.removesuffix("了").strip(_EDGES)):
        for nav, words in _NAV_WORDS.items():
            if candidate in words:
                return nav
    return None


def button_key(label: str) -> str:
    """A button's label reduced to what a user types of it: letters and digits only, so
    "« 上一步", "✔ 确认提交" and "✓ 青少年" are matched by 上一步, 确认提交 and 青少年."""
    plain = unicodedata.normalize("NFKC", label).lower()
    return "".join(ch for ch in plain if unicodedata.category(ch)[0] in "LN")


def _plain(text: str) -> str:
    """The text without width variants, case, edge punctuation or closing particles."""
    plain = unicodedata.normalize("NFKC", text).strip(_EDGES).lower()
    plain = re.sub(r"\s+", " ", plain)
    return _PARTICLES.sub("", plain).strip(_EDGES) if len(plain) > 1 else plain


def yes_or_no(text: str) -> bool | None:
    """True for a typed yes (是的, 对, 确定, 好, yes), False for a no (不, 不是, 否, 算了, 取消,
    no), None for anything else."""
    plain = _plain(text)
    if plain in YES:
        return True
    if plain in NO:
        return False
    return None


def says_nothing(text: str) -> bool:
    """Whether a typed answer says there is nothing to give (没有, 没有照片, 不用了, 无, skip)."""
    plain = _plain(text)
    return bool(plain) and _NOTHING.fullmatch(plain) is not None


def asks_about_step(text: str) -> bool:
    """Whether a typed answer is a question about the step itself (这里要填什么？, 写啥好,
    什么意思, what should I write?) rather than an answer that happens to hold 什么 or a "?"."""
    raw = unicodedata.normalize("NFKC", text).strip().lower()
    if raw and raw.strip("?？ ") == "":
        return True  # a bare "?"
    plain = _plain(text)
    return bool(_FIELD_QUESTION_ZH.fullmatch(plain) or _FIELD_QUESTION_EN.fullmatch(plain))
