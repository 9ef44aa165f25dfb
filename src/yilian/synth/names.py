"""Chinese names, homophones (同音字) and phone numbers for synthetic people.

Surname weights lean towards those common in 上海 and 江浙; given-name
characters change with the decade of birth (建国 and 秀英 before 1960, 伟 and
丽 until the 1980s, 梓涵 and 浩宇 after). Homophones are the characters a
pinyin input method offers for the same syllable, which is how most name
errors enter hospital systems.
"""

from __future__ import annotations

import random
from functools import lru_cache

_SURNAMES = (
    "张7 王7 陈6.5 李5 徐4 周3.5 朱3.5 刘3 沈2.5 杨2.5 黄2.5 吴2.5 顾2 陆2 孙2 胡2 "
    "金1.5 蒋1.5 赵1.5 许1.5 钱1.2 姚1.2 曹1.2 施1.2 唐1.2 马1.2 何1.2 高1.2 郭1 叶1 "
    "丁1 汪1 倪0.8 秦0.8 范0.8 潘0.8 宋0.8 邵0.8 袁0.8 俞0.8 冯0.8 蔡0.8 卢0.7 夏0.7 "
    "严0.6 戴0.6 薛0.6 龚0.6 郁0.5 欧阳0.1"
)
SURNAMES: tuple[str, ...] = tuple(s.rstrip("0123456789.") for s in _SURNAMES.split())
SURNAME_WEIGHTS: tuple[float, ...] = tuple(
    float(s[len(n) :]) for s, n in zip(_SURNAMES.split(), SURNAMES, strict=True)
)
_SURNAME_CUM = tuple(sum(SURNAME_WEIGHTS[: i + 1]) for i in range(len(SURNAME_WEIGHTS)))

# Given-name characters by (sex, era); era 0 = born before 1960, 1 = 1960–1989, 2 = 1990 on.
_GIVEN = {
    ("male", 0): "国建华明德荣福根宝金龙生林忠民强伟振兴海平良发祥云志文家永",
    ("female", 0): "秀英桂兰珍芳美凤玉华娟萍琴莉红梅月丽敏静素翠菊彩",
    ("male", 1): "伟勇军杰斌磊涛强明峰华俊浩辉刚健波宇翔亮鹏超晓东毅",
    ("female", 1): "丽静敏燕艳娟霞芳婷雯琳倩洁颖晶佳蓉蕾莹慧晓红萍",
    ("male", 2): "子浩宇轩睿博泽晨辰一奕航铭逸俊哲凯杰然昊宸嘉豪",
    ("female", 2): "欣怡梓涵诗雨思佳可馨萱语彤琪悦诺依嘉妍雪婉",
}

# Homophone groups (拼音 without tone → characters) of the name characters above and
# of others a pinyin input method offers for the same syllable. Generated once with
# pypinyin (Style.NORMAL) and kept as data: pypinyin's dictionaries cost ~60 MB per
# process, too much for every generator worker. tests/synth checks the readings.
_HOMOPHONE_GROUPS = (
    "bao 保宝 bin 宾彬斌滨 bo 博波 cai 彩蔡 chao 潮超 chen 晨臣辰陈 "
    "fang 方舫芳 feng 丰冯凤峰枫锋风 fu 富福 gang 刚纲钢 gui 桂贵 guo 国郭 "
    "han 含晗涵 hang 杭航 hao 昊浩皓 hong 宏洪红 hua 华桦骅 huang 皇黄 "
    "hui 惠慧晖蕙辉 jia 佳嘉家 jian 健剑建 jie 婕捷杰洁 jin 今金 jing 京境婧敬晶精菁靖静 "
    "juan 娟鹃 jun 俊军君均峻钧骏 kai 凯楷 lan 兰岚蓝 lei 磊蕾雷 li 丽俐利力李立莉黎 "
    "liang 亮梁良 lin 林琳霖 long 隆龙 lu 卢路陆 mei 梅美 min 敏民闽 "
    "ming 名明铭鸣 peng 朋鹏 ping 平萍 qi 淇琦琪祺 qian 倩茜钱 qiang 强蔷 "
    "qin 勤琴秦 ran 冉然 rong 容荣蓉融 rui 瑞睿锐 shen 审沈 sheng 声生 "
    "shi 施诗 si 丝思 tao 涛滔韬 ting 亭婷庭 tong 彤桐童 wang 汪王 "
    "wei 伟唯炜玮维韦 wen 文雯 xia 侠夏霞 xiang 祥翔详 xin 心新欣馨 xing 兴星 "
    "xu 徐许 xuan 宣萱轩 yan 严妍彦燕研艳言雁颜 yang 杨阳 "
    "yi 一亦仪伊依奕宜怡毅益艺逸 ying 影盈莹颖 "
    "yu 俞宇煜玉羽语郁雨 yue 悦月越 yun 云芸 ze 则泽 zhang 张章 zhe 哲喆 "
    "zhen 振珍真贞震 zhong 中忠 zhou 周舟 zhu 朱诸 zi 子梓紫"
)


@lru_cache(maxsize=1)
def _homophones() -> dict[str, tuple[str, ...]]:
    words = _HOMOPHONE_GROUPS.split()
    out: dict[str, tuple[str, ...]] = {}
    for chars in words[1::2]:
        for c in chars:
            out[c] = tuple(m for m in chars if m != c)
    return out


def homophone_groups() -> dict[str, str]:
    """``pinyin → characters`` of the homophone table (for checking it)."""
    words = _HOMOPHONE_GROUPS.split()
    return dict(zip(words[0::2], words[1::2], strict=True))


def homophone(rng: random.Random, char: str) -> str | None:
    """A different character with the same pinyin (tone ignored), or None if none is known."""
    options = _homophones().get(char)
    return rng.choice(options) if options else None


def _era(birth_year: int) -> int:
    return 0 if birth_year < 1960 else 1 if birth_year < 1990 else 2


def person_name(rng: random.Random, sex: str, birth_year: int) -> tuple[str, str]:
    """``(family, given)`` with the surname weights and the era's given-name characters."""
    family = rng.choices(SURNAMES, cum_weights=_SURNAME_CUM)[0]
    pool = _GIVEN[(sex, _era(birth_year))]
    # Single-character given names were common until the 1990s and rarer since.
    single = 0.3 if birth_year < 1990 else 0.12
    if rng.random() < single:
        return family, rng.choice(pool)
    return family, rng.choice(pool) + rng.choice(pool)


_MOBILE_PREFIXES = tuple(
    f"1{n}" for n in (30, 31, 32, 33, 35, 36, 37, 38, 39, 50, 51, 52, 53, 55, 56, 57, 58, 59,
                      66, 77, 80, 81, 82, 83, 85, 86, 87, 88, 89, 99)
)  # fmt: skip


def mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"


def landline(rng: random.Random, area_code: str) -> str:
    # 上海 numbers have 8 digits after 021; 0512 (苏州) and 0573 (嘉兴) too.
    return f"{area_code}-{rng.randrange(2, 10)}{rng.randrange(10_000_000):07d}"
