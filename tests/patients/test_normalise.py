from datetime import date

import pytest

from yilian.kit import idcard
from yilian.patients import normalise as n


@pytest.mark.parametrize(
    ("a", "b"),
    [("张伟", "章伟"), ("李娜", "李纳"), ("王静", "汪婧"), ("陈丽", "陈莉")],
)
def test_homophones_share_pinyin(a: str, b: str) -> None:
    assert a != b
    assert n.pinyin(a) == n.pinyin(b)
    assert n.initials(a) == n.initials(b)


def test_different_names_differ_in_pinyin() -> None:
    assert n.pinyin("张伟") == "zhangwei"
    assert n.pinyin("王伟") != n.pinyin("张伟")


def test_latin_text_is_its_own_pinyin() -> None:
    assert n.pinyin("mary ann") == "maryann"
    assert n.initials("mary ann") == "ma"


def test_family_names_read_as_surnames() -> None:
    # pypinyin reads 曾 as ceng and 单 as dan; as family names they are Zeng and Shan.
    assert n.family_pinyin("曾") == "zeng" == n.pinyin("增")
    assert n.family_pinyin("单") == "shan"
    assert n.family_pinyin("欧阳") == "ouyang"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张 伟", "张伟"),
        ("张\u3000伟", "张伟"),
        (" 买买提·艾力 ", "买买提艾力"),
        ("买买提・艾力", "买买提艾力"),
        ("Mary-Ann  SMITH", "mary ann smith"),
        ("ＳＭＩＴＨ", "smith"),
        ("", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_normalise_name(raw: object, expected: str | None) -> None:
    assert n.normalise_name(raw) == expected


def test_split_name() -> None:
    assert n.split_name("张伟") == ("张", "伟")
    assert n.split_name("欧阳娜娜") == ("欧阳", "娜娜")
    assert n.split_name("司马光") == ("司马", "光")
    assert n.split_name("mary ann smith") == ("smith", "mary ann")


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+86 138-0013-8000",
        "+86 13800138000",
        "0086 13800138000",
        "8613800138000",
        "138 0013 8000",
        "(138)0013-8000",
        "１３８００１３８０００",
    ],
)
def test_mobile_formats(raw: str) -> None:
    assert n.normalise_phone(raw) == "13800138000"


def test_landline_keeps_area_code() -> None:
    assert n.normalise_phone("021-6123 4567") == "02161234567"
    assert n.normalise_phone("+86 21 6123 4567") == "02161234567"


@pytest.mark.parametrize("raw", ["", "123", "00000000000", "无", None])
def test_unusable_phone(raw: object) -> None:
    assert n.normalise_phone(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "上海市青浦区朱家角镇新风路12号",
        "上海市上海市青浦区朱家角镇新风路12号",
        "上海青浦区朱家角镇新风路12号",
        "中国上海市青浦区 朱家角镇 新风路１２号",
        "青浦区朱家角镇新风路12号",
    ],
)
def test_address_prefixes(raw: str) -> None:
    assert n.normalise_address(raw) == "青浦区朱家角镇新风路12号"


def test_address_city_prefix() -> None:
    assert n.normalise_address("江苏省苏州市吴江区松陵街道") == "吴江区松陵街道"
    assert n.normalise_address("苏州市吴江区松陵街道") == "吴江区松陵街道"
    assert n.normalise_address("浙江省嘉兴市嘉善县魏塘街道") == "嘉善县魏塘街道"


def test_latin_address() -> None:
    assert n.normalise_address("12 Wallaby  Place, Delmar") == "12 wallaby place delmar"


@pytest.mark.parametrize(
    "raw",
    ["1990-01-02", "19900102", "1990/1/2", "1990年1月2日", "1990-01-02T08:00:00", date(1990, 1, 2)],
)
def test_birth_date_formats(raw: object) -> None:
    assert n.normalise_birth_date(raw) == date(1990, 1, 2)


@pytest.mark.parametrize("raw", ["1990-13-02", "1990-02-30", "1800-01-01", "2999-01-01", "abc", ""])
def test_impossible_birth_dates(raw: str) -> None:
    assert n.normalise_birth_date(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("男", "male"), ("女", "female"), ("1", "male"), (2, "female"), ("F", "female"),
     ("male", "male"), ("0", None), ("9", None), ("unknown", None), (None, None)],
)  # fmt: skip
def test_sex(raw: object, expected: str | None) -> None:
    assert n.normalise_sex(raw) == expected


VALID = idcard.make("310118", date(1949, 12, 31), 1, "female")


def test_id_number_canonical_form() -> None:
    lower = VALID.lower() if VALID.endswith("X") else VALID
    assert n.normalise_id_number(f" {lower} ") == VALID
    assert n.is_reliable_id(VALID)


def test_wrong_check_digit_is_not_reliable() -> None:
    wrong = VALID[:17] + ("0" if VALID[17] != "0" else "1")
    assert n.normalise_id_number(wrong) == wrong  # still compared, as evidence
    assert not n.is_reliable_id(wrong)


def test_legacy_15_digit_number_is_upgraded_but_not_reliable() -> None:
    number = idcard.make("310118", date(1960, 5, 6), 12, "male")
    legacy = number[:6] + number[8:17]
    assert n.normalise_id_number(legacy) == number
    assert not n.is_reliable_id(legacy)


@pytest.mark.parametrize("raw", ["", "123", "abc", "31011819491231"])
def test_malformed_id_number(raw: str) -> None:
    assert n.normalise_id_number(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ab 1234-5678", "AB12345678"), ("000000", None), ("123", None), ("无", None), (None, None)],
)
def test_card_numbers(raw: object, expected: str | None) -> None:
    assert n.normalise_card_no(raw) == expected
