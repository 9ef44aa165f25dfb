"""Synthetic patient records with known duplicates, for training and measuring the MPI.

A small region: households that share an address and often a phone, twins,
people who visit two to four institutions, each of which types the patient in
its own way. Every record carries its true ``person_id`` so that links can be
scored. The errors are those that hospital registration produces:

- names: a 同音字 picked from the pinyin input method (张伟 → 章伟, 李娜 → 李纳),
  a wrong character, full-width spaces, name sent whole or split;
- 身份证号 missing, mistyped (so its check digit fails) or in the 15-digit form;
- birth date mistyped, digits swapped, month and day swapped, in any format;
- phone: an old number, a typo, ``+86`` and separators;
- address: moved house, province/city prefixes added or left out, full-width digits.

Deterministic for a seed; self-contained (``yilian.synth`` is a different,
region-level generator).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from yilian.kit import idcard
from yilian.patients.matching import MatchRecord

_SURNAMES = (
    "王7.1 李7 张6.7 刘5.4 陈4.5 杨3.1 黄2.2 赵2 吴2 周1.9 徐1.5 孙1.5 马1.4 朱1.3 胡1.3 "
    "郭1.2 何1.2 高1.1 林1.1 罗1 郑1 梁1 谢.8 宋.8 唐.8 许.7 韩.7 冯.7 邓.7 曹.7 彭.6 "
    "曾.6 肖.6 田.6 董.5 袁.5 潘.5 于.5 蒋.5 蔡.5 余.5 杜.5 叶.5 程.5 苏.4 魏.4 吕.4 丁.4 "
    "任.4 沈.4 姚.4 卢.4 姜.4 崔.4 钟.4 谭.4 陆.4 汪.3 范.3 金.3 石.3 廖.3 贾.3 夏.3 韦.3 "
    "付.3 方.3 白.3 邹.3 孟.3 熊.3 秦.3 邱.3 江.3 尹.3 薛.2 闫.2 段.2 雷.2 侯.2 龙.2 史.2 "
    "陶.2 黎.2 贺.2 顾.2 毛.2 郝.2 龚.2 邵.2 万.2 钱.2 严.2 覃.1 武.2 戴.2 莫.1 孔.1 单.1 "
    "欧阳.05 司马.02 诸葛.01 上官.01"
)
SURNAMES = tuple(s.rstrip("0123456789.") for s in _SURNAMES.split())
SURNAME_WEIGHTS = tuple(
    float(s[len(n) :]) for s, n in zip(_SURNAMES.split(), SURNAMES, strict=True)
)

# Given-name characters by (sex, era): era 0 born before 1960, 1 until 1989, 2 after.
_GIVEN = {
    ("male", 0): "国建华明德荣福根宝金龙生林忠民强伟振兴海平良发祥云志文家永春庆山德成友",
    ("female", 0): "秀英桂兰珍芳美凤玉华娟萍琴莉红梅月丽敏静素翠菊彩霞云芬香淑琼",
    ("male", 1): "伟勇军杰斌磊涛强明峰华俊浩辉刚健波宇翔亮鹏超晓东毅飞鑫林龙斌洋凯",
    ("female", 1): "丽静敏燕艳娟霞芳婷雯琳倩洁颖晶佳蓉蕾莹慧晓红萍娜玲丹洁慧璐",
    ("male", 2): "子浩宇轩睿博泽晨辰一奕航铭逸俊哲凯杰然昊宸嘉豪梓天宁皓煜瑞鹏",
    ("female", 2): "欣怡梓涵诗雨思佳可馨萱语彤琪悦诺依嘉妍雪婉若晴瑶菲曦乐安",
}

# Characters a pinyin input method offers next to name characters: the pool that
# 同音字 errors are drawn from.
_HOMOPHONE_POOL = (
    "伟玮炜韦维唯 静婧靖敬境 敏民闽 丽莉力立利俐 华桦骅 明鸣铭名 强蔷 军君钧均俊峻骏 "
    "杰洁捷婕 斌彬滨宾 磊蕾雷 涛韬滔 峰锋丰枫风 辉晖慧惠蕙 刚钢纲 健建剑 波博柏 "
    "宇雨语羽玉煜 翔祥详 亮靓 鹏朋 超潮 燕艳雁彦 娟鹃 霞侠 芳方舫 婷亭庭 雯文 "
    "琳林霖 倩茜 颖莹盈影 晶京菁精 佳嘉家 蓉容荣融 欣心馨新 怡宜仪益 梓子紫 涵含晗 "
    "诗思丝 萱轩宣 彤桐童 琪琦淇祺 悦越月 依伊一 妍研言 浩昊皓 睿锐瑞 泽则 晨辰臣 "
    "奕亦毅 航杭 逸艺 哲喆 凯楷 然冉 福富 宝保 金今 龙隆 生声 忠中 振震 兴星 平萍 "
    "良梁 云芸 桂贵 兰蓝岚 珍真贞 美梅 琴勤 红宏洪 娜纳那 玲铃灵 丹单 璐路露 飞菲非 "
    "鑫欣 洋阳扬 天田 宁凝 安 乐 晴清 瑶遥 曦希 若 雪 婉 香湘 淑 琼 芬 成诚城 友有 "
    "张章 王汪 李黎理 陈臣 徐许 周舟 朱诸 刘留 杨阳 黄皇 吴无 顾 陆路 孙 胡 蒋 钱 "
    "姚 曹 唐 马 赵 何 郭 高 叶 丁 范 潘 宋 邵 严颜 袁 俞 冯 卢 夏 戴 薛 龚 蔡 秦 林"
)

# (district code, how systems write the place above it, district, towns, roads)
_DISTRICTS = (
    (
        "310118",
        ("上海市", "上海", ""),
        "青浦区",
        "朱家角镇 练塘镇 金泽镇 赵巷镇 徐泾镇 华新镇 夏阳街道",
        "新风路 漕平路 珠溪路 城中东路 公园路 华青路 盈港路",
    ),
    (
        "310105",
        ("上海市", "上海", ""),
        "长宁区",
        "新华路街道 天山路街道 虹桥街道 周家桥街道 程家桥街道",
        "天山路 延安西路 虹桥路 愚园路 娄山关路 遵义路 古北路",
    ),
    (
        "320509",
        ("江苏省苏州市", "苏州市", ""),
        "吴江区",
        "松陵街道 盛泽镇 黎里镇 平望镇 震泽镇 七都镇",
        "中山南路 笠泽路 鲈乡北路 开平路 仲英大道 江陵西路",
    ),
    (
        "330421",
        ("浙江省嘉兴市", "嘉兴市", ""),
        "嘉善县",
        "魏塘街道 西塘镇 姚庄镇 陶庄镇 干窑镇 天凝镇",
        "体育南路 解放东路 中山西路 亭桥路 晋阳路 施家南路",
    ),
)
_REGION_OF = {d[0]: d for d in _DISTRICTS}
_ORGS = tuple(f"ORG{i:03d}" for i in range(40))
_MOBILE = ("13", "15", "17", "18", "19")


@lru_cache(maxsize=1)
def _homophones() -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for c in sorted({c for c in _HOMOPHONE_POOL if not c.isspace()}):
        groups.setdefault(lazy_pinyin(c, style=Style.NORMAL)[0], []).append(c)
    return {c: tuple(m for m in ms if m != c) for ms in groups.values() for c in ms if len(ms) > 1}


_ALL_GIVEN = "".join(sorted(set("".join(_GIVEN.values()))))


@dataclass(frozen=True)
class Person:
    person_id: str
    family: str
    given: str
    sex: str
    birth: date
    id_number: str
    phone: str
    old_phone: str
    address: tuple[str, str, str]  # (district code, rest without prefix, door number)
    insurance_no: str | None
    health_card_no: str | None


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ids: set[str] = set()
        self.cum = []
        total = 0.0
        for w in SURNAME_WEIGHTS:
            total += w
            self.cum.append(total)

    def mobile(self) -> str:
        r = self.rng
        return r.choice(_MOBILE) + str(r.randint(0, 9)) + f"{r.randrange(10**8):08d}"

    def surname(self) -> str:
        return self.rng.choices(SURNAMES, cum_weights=self.cum)[0]

    def given(self, sex: str, year: int) -> str:
        era = 0 if year < 1960 else 1 if year < 1990 else 2
        pool = _GIVEN[(sex, era)]
        n = 1 if self.rng.random() < 0.2 else 2
        return "".join(self.rng.choice(pool) for _ in range(n))

    def address(self) -> tuple[str, str, str]:
        r = self.rng
        code, _, district, towns, roads = r.choice(_DISTRICTS)
        rest = f"{district}{r.choice(towns.split())}{r.choice(roads.split())}"
        door = f"{r.randint(1, 999)}弄{r.randint(1, 60)}号{r.randint(1, 6)}0{r.randint(1, 4)}室"
        return code, rest, door

    def id_number(self, region: str, birth: date, sex: str) -> str:
        while True:
            number = idcard.make(region, birth, self.rng.randrange(500), sex)
            if number not in self.ids:
                self.ids.add(number)
                return number

    def person(
        self, pid: str, family: str, sex: str, birth: date, phone: str, addr: tuple[str, str, str]
    ) -> Person:
        r = self.rng
        return Person(
            person_id=pid,
            family=family,
            given=self.given(sex, birth.year),
            sex=sex,
            birth=birth,
            id_number=self.id_number(addr[0], birth, sex),
            phone=phone,
            old_phone=self.mobile(),
            address=addr,
            insurance_no=f"{addr[0][:4]}{r.randrange(10**10):010d}" if r.random() < 0.5 else None,
            health_card_no=f"{r.getrandbits(128):032X}" if r.random() < 0.3 else None,
        )


def people(n: int, seed: int = 1) -> list[Person]:
    """``n`` residents in households: couples, their children (sharing address, family
    name and often a parent's phone) and now and then twins."""
    g = _Gen(seed)
    r = g.rng
    out: list[Person] = []
    start = date(1930, 1, 1)
    span = (date(2020, 12, 31) - start).days
    while len(out) < n:
        addr = g.address()
        phone = g.mobile()
        family = g.surname()
        adult_birth = start + timedelta(days=r.randrange(span - 20 * 365))
        head = g.person(
            f"P{len(out):07d}", family, r.choice(("male", "female")), adult_birth, phone, addr
        )
        out.append(head)
        if r.random() < 0.6 and len(out) < n:  # spouse
            spouse_birth = adult_birth + timedelta(days=r.randint(-2000, 2000))
            spouse_sex = "female" if head.sex == "male" else "male"
            out.append(
                g.person(
                    f"P{len(out):07d}", g.surname(), spouse_sex, spouse_birth, g.mobile(), addr
                )
            )
        if r.random() < 0.5:
            kids = r.choice((1, 1, 2))
            twins = r.random() < 0.03
            first_birth = adult_birth + timedelta(days=r.randint(20 * 365, 35 * 365))
            for k in range(kids + (1 if twins else 0)):
                if len(out) >= n:
                    break
                birth = (
                    first_birth
                    if twins and k < 2
                    else first_birth + timedelta(days=k * r.randint(400, 3000))
                )
                if birth > date(2023, 12, 31):
                    continue
                # Young children carry a parent's phone.
                kid_phone = phone if birth.year > 2005 or r.random() < 0.3 else g.mobile()
                kid = g.person(
                    f"P{len(out):07d}", family, r.choice(("male", "female")), birth, kid_phone, addr
                )
                out.append(kid)
    return out[:n]


# ---------------------------------------------------------------------------- records


def _typo_digit(r: random.Random, s: str, start: int = 0) -> str:
    i = r.randrange(start, len(s))
    return s[:i] + r.choice([d for d in "0123456789" if d != s[i]]) + s[i + 1 :]


def _swap_digits(r: random.Random, s: str, start: int = 0) -> str:
    i = r.randrange(start, len(s) - 1)
    if s[i] == s[i + 1]:
        return _typo_digit(r, s, start)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" else c for c in s)


def _name(r: random.Random, p: Person) -> tuple[str, str]:
    family, given = p.family, p.given
    roll = r.random()
    if roll < 0.10:  # 同音字 in the given name
        i = r.randrange(len(given))
        alt = _homophones().get(given[i])
        if alt:
            given = given[:i] + r.choice(alt) + given[i + 1 :]
    elif roll < 0.12:  # 同音字 in the family name
        alt = _homophones().get(family)
        if alt:
            family = r.choice(alt)
    elif roll < 0.15:  # a wrong character altogether
        i = r.randrange(len(given))
        given = given[:i] + r.choice(_ALL_GIVEN) + given[i + 1 :]
    return family, given


def _birth(r: random.Random, b: date) -> str | None:
    roll = r.random()
    s = b.strftime("%Y%m%d")
    if roll < 0.02:
        return None
    if roll < 0.05:
        s = _typo_digit(r, s, 2)
    elif roll < 0.06:
        s = _swap_digits(r, s, 2)
    elif roll < 0.07 and b.day <= 12:
        s = s[:4] + s[6:] + s[4:6]
    fmt = r.random()
    if fmt < 0.4:
        return f"{s[:4]}-{s[4:6]}-{s[6:]}"
    if fmt < 0.6:
        return s
    if fmt < 0.8:
        return f"{s[:4]}/{int(s[4:6])}/{int(s[6:])}"
    return f"{s[:4]}年{int(s[4:6])}月{int(s[6:])}日"


def _phone(r: random.Random, p: Person) -> str | None:
    roll = r.random()
    if roll < 0.10:
        return None
    phone = p.old_phone if roll < 0.22 else p.phone
    if r.random() < 0.03:
        phone = _typo_digit(r, phone, 3) if r.random() < 0.6 else _swap_digits(r, phone, 3)
    fmt = r.random()
    if fmt < 0.15:
        return f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
    if fmt < 0.3:
        return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return phone


def _address(r: random.Random, g: _Gen, p: Person) -> str | None:
    roll = r.random()
    if roll < 0.05:
        return None
    code, rest, door = g.address() if roll < 0.13 else p.address
    prefix = r.choice(_REGION_OF[code][1])
    if r.random() < 0.05:
        prefix = prefix * 2  # systems that prepend the city to an address that has it
    text = prefix + rest + door
    if r.random() < 0.05:
        text = _fullwidth(text)
    if r.random() < 0.04:  # a character dropped
        i = r.randrange(len(text))
        text = text[:i] + text[i + 1 :]
    return text


def _id(r: random.Random, p: Person) -> str | None:
    roll = r.random()
    if roll < 0.40:
        return None
    number = p.id_number
    if roll < 0.43:
        return _typo_digit(r, number) if r.random() < 0.5 else _swap_digits(r, number)
    if roll < 0.45 and p.birth.year < 1985:
        return number[:6] + number[8:17]  # first-generation 15-digit number
    if r.random() < 0.3:
        number = number.lower()
    return number


def records_of(p: Person, k: int, g: _Gen) -> list[tuple[MatchRecord, str]]:
    """``k`` records of a person from different institutions."""
    r = g.rng
    out = []
    for org in r.sample(_ORGS, k):
        family, given = _name(r, p)
        split = r.random() < 0.5
        full = family + given
        if not split and r.random() < 0.1:
            full = family + "\u3000" + given  # padded the way some systems print names
        sex = None if r.random() < 0.03 else p.sex
        if sex and r.random() < 0.005:
            sex = "female" if sex == "male" else "male"
        if sex and r.random() < 0.3:
            sex = "1" if sex == "male" else "2"
        rec = MatchRecord(
            record_id=f"{org}-{p.person_id}-{len(out)}",
            family_name=family if split else None,
            given_name=given if split else None,
            full_name=None if split else full,
            sex=sex,
            birth_date=_birth(r, p.birth),
            phone=_phone(r, p),
            address=_address(r, g, p),
            id_number=_id(r, p),
            insurance_no=p.insurance_no if p.insurance_no and r.random() < 0.5 else None,
            health_card_no=p.health_card_no if p.health_card_no and r.random() < 0.5 else None,
            source_org=org,
        )
        out.append((rec, p.person_id))
    return out


def dataset(n_people: int, seed: int = 1) -> tuple[list[MatchRecord], dict[str, str]]:
    """Records of ``n_people`` residents and the truth: record id → person id.

    Half the people were seen by one institution, the rest by two to four.
    """
    g = _Gen(seed + 1_000_003)
    records: list[MatchRecord] = []
    truth: dict[str, str] = {}
    for p in people(n_people, seed):
        k = g.rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]
        for rec, pid in records_of(p, k, g):
            records.append(rec)
            truth[rec.record_id] = pid
    return records, truth
