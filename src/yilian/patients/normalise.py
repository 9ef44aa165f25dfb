"""Normalisation of the fields the master patient index (主索引) matches on.

Pure functions, no I/O. Every function accepts what an institution's system
plausibly sends (full-width digits, ``+86`` prefixes, 男/女, 1/2, ``1990年1月2日``)
and returns a canonical string, or ``None`` when nothing usable is left, so that
"missing" and "garbage" look the same to the matcher.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from yilian.kit import idcard


def _words(text: str) -> list[str]:
    return text.split()


# Compound surnames (复姓) that must not be split after the first character.
COMPOUND_SURNAMES = frozenset(
    _words("""
    欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙
    宇文 司徒 夏侯 轩辕 令狐 钟离 闻人 澹台 公冶 太史
    申屠 端木 南宫 呼延 独孤 万俟 百里 东郭 西门 拓跋
    第五 赫连 濮阳 淳于 单于 司空 仲孙 羊舌 微生 梁丘
    左丘 东门 谷梁 鲜于
    """)
)

# pypinyin reads a character with its most common pronunciation; these characters
# are read differently when they are a family name (单雄信 is Shan, not Dan).
_SURNAME_READINGS = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "区": "ou",
    "查": "zha",
    "盖": "ge",
    "乐": "yue",
    "缪": "miao",
    "翟": "zhai",
    "尉迟": "yuchi",
    "万俟": "moqi",
    "长孙": "zhangsun",
    "单于": "chanyu",
    "覃": "qin",
    "种": "chong",
    "秘": "bi",
    "召": "shao",
    "员": "yun",
    "参": "can",
}

# Middle dots of minority and transliterated names (买买提·艾力), in their many encodings.
_NAME_PUNCT = re.compile(r"[\s·•‧・∙⋅．.\-_'’,，、]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NOT_ASCII_LETTER = re.compile(r"[^a-z]+")
_NON_DIGIT = re.compile(r"\D+")
# What registration desks type when they do not know: never evidence of identity.
_PLACEHOLDERS = frozenset(
    [
        *("无", "无名", "无名氏", "未知", "不详", "不明", "待查", "暂无", "空"),
        *("null", "none", "unknown", "n/a"),
    ]
)


def halfwidth(text: str) -> str:
    """Full-width letters, digits and spaces to their ASCII forms (NFKC)."""
    return unicodedata.normalize("NFKC", text)


def _blank(value: object) -> str | None:
    """``str(value)`` stripped, or ``None`` for None/NaN/empty."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from pandas
        return None
    text = str(value).strip()
    return text or None


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


# ---------------------------------------------------------------------------- names


def normalise_name(value: object) -> str | None:
    """Canonical name: half-width, no spaces or middle dots, Latin lower-cased.

    张 伟 / 张伟 / 买买提·艾力 → 张伟 / 张伟 / 买买提艾力; "Mary-Ann  SMITH" → "mary ann smith".
    Latin names keep single spaces so that given and family name stay apart.
    """
    text = _blank(value)
    if text is None:
        return None
    text = halfwidth(text).lower()
    # 无名氏 is how an unidentified emergency patient is registered, often numbered (无名氏3).
    if text.rstrip("0123456789 ") in _PLACEHOLDERS:
        return None
    if has_cjk(text):
        text = _NAME_PUNCT.sub("", text)
    else:
        text = " ".join(_NAME_PUNCT.sub(" ", text).split())
    return text or None


def split_name(full: str) -> tuple[str, str]:
    """Split a normalised full name into (family, given).

    Chinese: a known 复姓 or else the first character is the family name. Latin
    names are written given-first, so the last word is the family name.
    """
    if has_cjk(full):
        if len(full) > 2 and full[:2] in COMPOUND_SURNAMES:
            return full[:2], full[2:]
        return full[:1], full[1:]
    words = full.split()
    if len(words) < 2:
        return "", full
    return words[-1], " ".join(words[:-1])


@lru_cache(maxsize=200_000)
def pinyin(text: str) -> str:
    """Toneless pinyin of a name, letters only: 张伟 and 章伟 both give ``zhangwei``.

    Latin text is its own pinyin, so "Mary Smith" gives ``marysmith``.
    """
    if not has_cjk(text):
        return _NOT_ASCII_LETTER.sub("", text.lower())
    return _NOT_ASCII_LETTER.sub("", "".join(lazy_pinyin(text, style=Style.NORMAL)).lower())


@lru_cache(maxsize=50_000)
def family_pinyin(family: str) -> str:
    """Pinyin of a family name, with the surname readings of 多音字 (曾 → zeng)."""
    reading = _SURNAME_READINGS.get(family)
    if reading is not None:
        return reading
    if len(family) == 2 and family[0] in _SURNAME_READINGS and has_cjk(family):
        return _SURNAME_READINGS[family[0]] + pinyin(family[1])
    return pinyin(family)


@lru_cache(maxsize=200_000)
def initials(text: str) -> str:
    """First letter of each syllable (Chinese) or word (Latin): 欧阳娜娜 → oynn."""
    if not has_cjk(text):
        return "".join(w[0] for w in text.lower().split() if w[0].isalpha())
    letters = lazy_pinyin(text, style=Style.FIRST_LETTER)
    return _NOT_ASCII_LETTER.sub("", "".join(letters).lower())


# ---------------------------------------------------------------------------- sex, dates

_MALE = {"male", "m", "1", "男", "男性"}
_FEMALE = {"female", "f", "2", "女", "女性"}


def normalise_sex(value: object) -> str | None:
    """FHIR administrative gender ``male``/``female``; GB/T 2261.1 codes 1/2 accepted.

    Unknown (0), unspecified (9) and ``other`` carry no matching evidence: ``None``.
    """
    text = _blank(value)
    if text is None:
        return None
    text = halfwidth(text).lower()
    if text in _MALE:
        return "male"
    if text in _FEMALE:
        return "female"
    return None


_DATE_PARTS = re.compile(r"^(\d{4})\D?(\d{1,2})\D?(\d{1,2})\D?$")


def normalise_birth_date(value: object, *, today: date | None = None) -> date | None:
    """A plausible birth date from a date or text: 1990-01-02, 19900102, 1990/1/2, 1990年1月2日."""
    if isinstance(value, datetime):
        born: date | None = value.date()
    elif isinstance(value, date):
        born = value
    else:
        text = _blank(value)
        born = None if text is None else _date_from_text(text)
    # 1880 rather than 1900: the oldest residents' records are real, placeholder
    # dates like 1800-01-01 are not.
    if born is None or born.year < 1880 or born > (today or date.today()):
        return None
    return born


@lru_cache(maxsize=100_000)  # a region has a few tens of thousands of birth dates
def _date_from_text(text: str) -> date | None:
    text = halfwidth(text).replace("年", "-").replace("月", "-").replace("日", "")
    text = text.split("T")[0].split(" ")[0]
    m = _DATE_PARTS.match(text)
    if m is None:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


# ---------------------------------------------------------------------------- phone


def normalise_phone(value: object) -> str | None:
    """Digits of a phone number without the country code.

    "+86 138-0013-8000", "0086 13800138000" and "138 0013 8000" all give
    ``13800138000``; landlines keep their area code (021-6xxxxxxx → 0216xxxxxxx).
    Numbers too short to identify anyone, or a single repeated digit
    (a common placeholder), give ``None``.
    """
    text = _blank(value)
    if text is None:
        return None
    text = halfwidth(text)
    digits = _NON_DIGIT.sub("", text)
    if text.startswith("+86") or digits.startswith("0086"):
        digits = digits[4:] if digits.startswith("0086") else digits[2:]
        if not digits.startswith(("0", "1")):
            digits = "0" + digits  # +86 21 …: the area code loses its trunk 0 abroad
    elif len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    if len(digits) < 7 or len(set(digits)) == 1:
        return None
    return digits


# ---------------------------------------------------------------------------- address

_PROVINCES = _words("""
    北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽
    福建 江西 山东 河南 湖北 湖南 广东 海南 四川 贵州 云南 陕西
    甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门
""")
_PROVINCE_PREFIX = re.compile(
    r"^(?:"
    + "|".join(_PROVINCES)
    + r")(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)?"
)
# A prefecture-level city (苏州市) directly followed by its district or county.
_CITY_PREFIX = re.compile(r"^[\u4e00-\u9fff]{2,4}?市(?=[\u4e00-\u9fff]{1,6}?(?:区|县|市|旗))")
_ADDRESS_PUNCT = re.compile(r"[\s,，、。.;；:：#()（）\[\]【】\-—_/\\'\"]+")


def normalise_address(value: object) -> str | None:
    """Address without the province and city prefixes that systems add or leave out.

    "上海市上海市青浦区朱家角镇新风路１２号" and "青浦区朱家角镇新风路12号" both give
    ``青浦区朱家角镇新风路12号``; the district and everything after it is kept
    because that is what tells two residents apart. Latin addresses are lower-cased
    with punctuation removed and single spaces.
    """
    text = _blank(value)
    if text is None:
        return None
    text = halfwidth(text).lower()
    if text in _PLACEHOLDERS:
        return None
    if not has_cjk(text):
        text = " ".join(_ADDRESS_PUNCT.sub(" ", text).split())
        return text or None
    text = _ADDRESS_PUNCT.sub("", text)
    for prefix in ("中华人民共和国", "中国"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    # Repeat: systems concatenate prefixes ("上海市上海市", "浙江省浙江省嘉兴市").
    while True:
        stripped = _PROVINCE_PREFIX.sub("", text, count=1)
        stripped = _CITY_PREFIX.sub("", stripped, count=1)
        if stripped == text or not stripped:
            break
        text = stripped
    return text or None


# ---------------------------------------------------------------------------- identifiers


def normalise_id_number(value: object) -> str | None:
    """A 身份证号 in canonical form: half-width, no spaces, upper-case X.

    A 15-digit first-generation number is converted to its 18-digit form (the
    century 19 inserted and the check digit computed), so it compares equal to the
    person's current number; it is still not *reliable* — see :func:`is_reliable_id`.
    Anything else that is not 18 characters gives ``None``.
    """
    text = _blank(value)
    if text is None:
        return None
    text = _NAME_PUNCT.sub("", halfwidth(text)).upper()
    if len(text) == 15 and text.isdigit():
        body = text[:6] + "19" + text[6:]
        return body + idcard.check_digit(body)
    if len(text) != 18 or not text[:17].isdigit():
        return None
    return text


def parse_reliable_id(value: object) -> idcard.IdCard | None:
    """The parsed 身份证号 if, as *received*, it may link records on its own; else ``None``.

    Only an 18-digit number whose check digit and birth date verify. A
    first-generation 15-digit number has no check digit, so a typo in it
    cannot be detected.
    """
    text = _blank(value)
    if text is None:
        return None
    text = _NAME_PUNCT.sub("", halfwidth(text)).upper()
    if len(text) != 18:
        return None
    try:
        return idcard.parse(text)
    except idcard.InvalidIdCard:
        return None


def is_reliable_id(value: object) -> bool:
    """Whether a 身份证号 as received may link records on its own: see :func:`parse_reliable_id`."""
    return parse_reliable_id(value) is not None


def normalise_card_no(value: object) -> str | None:
    """A 医保卡号 or 电子健康卡号: half-width, no separators, upper-case.

    Fewer than 6 characters or one repeated character (000000, "无") are
    placeholders, not identifiers.
    """
    text = _blank(value)
    if text is None:
        return None
    text = _NAME_PUNCT.sub("", halfwidth(text)).upper()
    if len(text) < 6 or len(set(text)) == 1 or not text.isalnum() or has_cjk(text):
        return None
    return text
