"""Geography, institutions and consortia of the synthetic region.

长宁区 (its 10 streets/towns, the district hospitals, 10 社区卫生服务中心, the
新泾 分中心 and 44 社区卫生服务站) plus the 长三角生态绿色一体化发展示范区
(青浦 · 吴江 · 嘉善) and the municipal hospitals 长宁 residents use. Names,
roles and consortia follow the seeds: 002 (长卫健发〔2025〕48号), 004 (长宁区推动
卫生健康事业高质量发展行动方案) and 001 (示范区 articles). Administrative codes
are GB/T 2260; street codes follow the 统计用区划代码 pattern (district code +
3 digits). Figures marked ``approximate`` in :data:`SOURCES` are rounded public
figures, good for resource-density analysis, not for citation.

Organisation codes are yilian's own stable codes: region code + a letter for
the kind + a sequence (``310105H001`` = 同仁医院). They never change between
versions, so bundles from two runs refer to the same institutions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

SOURCES = {
    "census2020": "第七次全国人口普查公报 (2021): 上海市 24,870,895; 苏州市 12,748,262; "
    "嘉兴市 5,400,868; 江苏省 84,748,016; 浙江省 64,567,588; 安徽省 61,027,171",
    "districts": "区县 population/area/GDP 2020, approximate: 长宁 693,051 / 38.3 km² / "
    "1,561 亿元; 青浦 1,271,424 / 670 km² / 1,193 亿元; 吴江 1,544,000 / 1,177 km² / "
    "2,003 亿元; 嘉善 648,000 / 508 km² / 680 亿元 (示范区 about 2,300 km², seed 000)",
    "streets": "长宁 street populations and areas are approximate shares of the district "
    "figures; codes follow the 统计用区划代码 pattern",
    "institutions": "seeds 002, 004 (长宁) and 001 表1 and text (示范区)",
}

SHANGHAI = "310000"
CHANGNING = "310105"
QINGPU = "310118"
WUJIANG = "320509"
JIASHAN = "330421"

# Insurance is pooled at city level (统筹区), except in the municipalities.
_MUNICIPALITIES = ("11", "12", "31", "50")


def pooling_area(region_code: str) -> str:
    """The 统筹区 of a county-level code: the province for 直辖市, else the city."""
    if region_code[:2] in _MUNICIPALITIES:
        return region_code[:2] + "0000"
    return region_code[:4] + "00"


def province_of(region_code: str) -> str:
    return region_code[:2] + "0000"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: str  # province | city | district | street
    parent_code: str | None
    area_km2: float | None = None
    population: int | None = None
    gdp: float | None = None  # 亿元


@dataclass(frozen=True)
class Street:
    """A street (街道) or town (镇) where residents live."""

    code: str
    name: str
    short: str
    district: str
    population: int
    area_km2: float
    postal_code: str
    roads: tuple[str, ...]
    centre: str  # code of the 社区卫生服务中心 that serves it


@dataclass(frozen=True)
class Org:
    code: str
    name: str
    short_name: str
    type: str  # registry OrganizationType value
    region_code: str  # county-level code
    level: str | None = None
    parent_code: str | None = None
    address: str | None = None
    # What the generator does with it: hospital, community, station, cdc, internet,
    # insurer, fever_clinic, fever_sentinel, tb_designated, ili_sentinel, mch, mental.
    tags: frozenset[str] = frozenset()
    departments: tuple[str, ...] = ()
    recognition: tuple[str, ...] = ()  # 互认 schemes it takes part in

    @property
    def province(self) -> str:
        return province_of(self.region_code)

    @property
    def pooling(self) -> str:
        return pooling_area(self.region_code)


@dataclass(frozen=True)
class Consortium:
    code: str
    name: str
    kind: str  # registry ConsortiumKind value
    lead_code: str
    member_codes: tuple[str, ...]
    region_code: str | None
    description: str


@dataclass(frozen=True)
class Practitioner:
    code: str  # 执业证号-like licence number
    name: str
    gender: str
    title: str
    specialty: str
    role: str  # registry PractitionerRoleCode value
    org_code: str


# --- regions -------------------------------------------------------------------

_PROVINCES = (
    Region(SHANGHAI, "上海市", "province", None, 6340.5, 24_870_895, 38_700.6),
    Region("320000", "江苏省", "province", None, 107_200.0, 84_748_016, 102_719.0),
    Region("330000", "浙江省", "province", None, 105_500.0, 64_567_588, 64_613.3),
    Region("340000", "安徽省", "province", None, 140_100.0, 61_027_171, 38_680.6),
)

# 上海 has no city-level unit; GB/T 2260 puts its districts under 310100 市辖区.
_CITIES = (
    Region("310100", "上海市市辖区", "city", SHANGHAI),
    Region("320500", "苏州市", "city", "320000", 8657.3, 12_748_262, 20_170.5),
    Region("330400", "嘉兴市", "city", "330000", 4236.6, 5_400_868, 5_509.5),
    Region("320100", "南京市", "city", "320000"),
    Region("320200", "无锡市", "city", "320000"),
    Region("320300", "徐州市", "city", "320000"),
    Region("320600", "南通市", "city", "320000"),
    Region("320900", "盐城市", "city", "320000"),
    Region("321000", "扬州市", "city", "320000"),
    Region("330100", "杭州市", "city", "330000"),
    Region("330200", "宁波市", "city", "330000"),
    Region("330300", "温州市", "city", "330000"),
    Region("330600", "绍兴市", "city", "330000"),
    Region("340100", "合肥市", "city", "340000"),
    Region("340800", "安庆市", "city", "340000"),
    Region("341200", "阜阳市", "city", "340000"),
    Region("341300", "宿州市", "city", "340000"),
    Region("341500", "六安市", "city", "340000"),
    Region("341600", "亳州市", "city", "340000"),
)

_DISTRICTS = (
    Region(CHANGNING, "长宁区", "district", "310100", 38.3, 693_051, 1_561.0),
    Region(QINGPU, "青浦区", "district", "310100", 670.1, 1_271_424, 1_193.0),
    Region(WUJIANG, "吴江区", "district", "320500", 1176.7, 1_544_000, 2_003.0),
    Region(JIASHAN, "嘉善县", "district", "330400", 507.7, 648_000, 680.0),
)


def _s(
    code: str,
    name: str,
    short: str,
    population: int,
    area: float,
    postal: str,
    roads: str,
    centre: str,
) -> Street:
    return Street(
        code=code,
        name=name,
        short=short,
        district=code[:6],
        population=population,
        area_km2=area,
        postal_code=postal,
        roads=tuple(roads.split()),
        centre=centre,
    )


STREETS: tuple[Street, ...] = (
    # 长宁区: the 10 streets/towns of seed 004, each with its 社区卫生服务中心.
    _s("310105001", "华阳路街道", "华阳", 72_000, 2.04, "200042",
       "长宁路 华阳路 安西路 武夷路 万航渡路 镇宁路 定西路", "310105C003"),
    _s("310105002", "江苏路街道", "江苏", 44_000, 1.52, "200050",
       "愚园路 江苏路 武定西路 宣化路 利西路 长宁支路", "310105C002"),
    _s("310105004", "新华路街道", "新华", 64_000, 2.20, "200052",
       "新华路 番禺路 法华镇路 定西路 淮海西路 幸福路 延安西路", "310105C001"),
    _s("310105005", "周家桥街道", "周家桥", 66_000, 1.94, "200051",
       "长宁路 凯旋路 中山西路 汇川路 延安西路 芙蓉江路", "310105C004"),
    _s("310105006", "天山路街道", "天山", 80_000, 2.16, "200051",
       "天山路 遵义路 娄山关路 茅台路 中山西路 延安西路", "310105C005"),
    _s("310105008", "仙霞新村街道", "仙霞", 88_000, 3.05, "200336",
       "仙霞路 茅台路 威宁路 虹古路 水城路 安顺路", "310105C006"),
    _s("310105009", "虹桥街道", "虹桥", 70_000, 2.68, "200336",
       "虹桥路 古北路 伊犁路 荣华东道 延安西路 安顺路 宋园路", "310105C007"),
    _s("310105010", "程家桥街道", "程家桥", 35_000, 7.29, "200335",
       "虹桥路 程家桥路 哈密路 剑河路 虹井路", "310105C008"),
    _s("310105011", "北新泾街道", "北新泾", 58_000, 2.27, "200335",
       "天山西路 金钟路 哈密路 北翟路 新泾路", "310105C009"),
    _s("310105102", "新泾镇", "新泾", 116_051, 13.15, "200335",
       "天山西路 淞虹路 北翟路 剑河路 协和路 福泉路 新泾路", "310105C010"),
    # 示范区: a few streets/towns of each district, served by their own centres.
    _s("310118001", "夏阳街道", "夏阳", 190_000, 63.0, "201700",
       "公园路 城中北路 华青路 外青松公路", "310118C001"),
    _s("310118002", "盈浦街道", "盈浦", 150_000, 27.0, "201700",
       "盈港东路 城中南路 青安路 漕盈路", "310118C002"),
    _s("310118102", "朱家角镇", "朱家角", 100_000, 138.0, "201713",
       "祥凝浜路 课植园路 沪青平公路 淀山湖大道", "310118C003"),
    _s("310118104", "金泽镇", "金泽", 70_000, 108.0, "201718",
       "金溪路 商榻路 沪青平公路 练西公路", "310118C003"),
    _s("320509001", "松陵街道", "松陵", 320_000, 140.0, "215200",
       "中山南路 鲈乡南路 松陵大道 流虹路", "320509C001"),
    _s("320509102", "盛泽镇", "盛泽", 450_000, 150.0, "215228",
       "舜新路 市场路 西二环路 南麻路", "320509C002"),
    _s("320509103", "黎里镇", "黎里", 250_000, 260.0, "215211",
       "汾湖大道 黎民北路 康力大道", "320509C003"),
    _s("330421001", "魏塘街道", "魏塘", 160_000, 78.0, "314100",
       "体育南路 解放东路 施家南路 谈公南路", "330421C001"),
    _s("330421002", "罗星街道", "罗星", 110_000, 40.0, "314100",
       "晋阳东路 华亭路 罗星路 亭桥南路", "330421C002"),
    _s("330421101", "西塘镇", "西塘", 90_000, 83.0, "314121",
       "南苑路 西塘大道 塘东街 中方路", "330421C003"),
)  # fmt: skip

STREET_BY_CODE = {s.code: s for s in STREETS}


def _streets_as_regions() -> tuple[Region, ...]:
    return tuple(
        Region(s.code, s.name, "street", s.district, s.area_km2, s.population) for s in STREETS
    )


REGIONS: tuple[Region, ...] = _PROVINCES + _CITIES + _DISTRICTS + _streets_as_regions()
REGION_BY_CODE = {r.code: r for r in REGIONS}

# --- institutions --------------------------------------------------------------

# Departments generate both practitioners and the specialty of an encounter.
_GENERAL_DEPTS = ("全科", "心内科", "内分泌科", "呼吸科", "消化科", "急诊科", "放射科", "检验科")
_TCM_DEPTS = ("中医内科", "针灸推拿科", "骨伤科", "康复科", "放射科", "检验科")
_COMMUNITY_DEPTS = ("全科", "中医科", "预防保健科", "检验科")

_SH = ("shanghai",)  # 沪卫医〔2019〕27号: all public institutions of 上海
_ZONE = ("demo_zone",)  # 示范区 35 lab + 9 imaging items (seed 001)
_HOSPITAL = ("hospital",)


def _org(
    code: str,
    name: str,
    short: str,
    type_: str,
    level: str | None = None,
    *,
    parent: str | None = None,
    address: str | None = None,
    tags: tuple[str, ...] = (),
    depts: tuple[str, ...] = (),
    recognition: tuple[str, ...] = (),
) -> Org:
    return Org(
        code=code,
        name=name,
        short_name=short,
        type=type_,
        region_code=code[:6],
        level=level,
        parent_code=parent,
        address=address,
        tags=frozenset(tags),
        departments=depts,
        recognition=recognition,
    )


def _changning() -> list[Org]:
    hospital = ("hospital", "fever_clinic")
    orgs = [
        _org("310105H001", "上海市同仁医院", "同仁医院", "tertiary_hospital", "三级",
             address="上海市长宁区仙霞路1111号",
             tags=(*hospital, "regional_centre", "ili_sentinel", "tb_designated"),
             depts=(*_GENERAL_DEPTS, "感染科", "骨科"), recognition=_SH),
        _org("310105H002", "上海市光华中西医结合医院", "光华医院", "integrated_medicine_hospital",
             "三级", address="上海市长宁区新华路540号", tags=hospital,
             depts=("关节病科", "中医内科", "心内科", "放射科", "检验科", "急诊科"),
             recognition=_SH),
        _org("310105H003", "上海市长宁区天山中医医院", "天山中医医院", "tcm_hospital", "二级",
             tags=hospital, depts=_TCM_DEPTS, recognition=_SH),
        _org("310105H004", "上海市长宁区妇幼保健院", "妇幼保健院", "maternal_child_health", "二级",
             tags=("hospital", "mch", "ili_sentinel"), depts=("儿科", "妇科", "产科", "检验科"),
             recognition=_SH),
        _org("310105H005", "上海市长宁区精神卫生中心", "精神卫生中心", "mental_health_center",
             "二级", tags=("hospital", "mental"), depts=("精神科", "心理咨询科"),
             recognition=_SH),
        _org("310105P001", "上海市长宁区疾病预防控制中心", "长宁区疾控中心", "cdc",
             tags=("cdc",), depts=("传染病防治科", "慢病防治科")),
    ]  # fmt: skip
    # Centre codes follow the order of seed 004's list of the 10 community brands.
    centre_order = ("新华", "江苏", "华阳", "周家桥", "天山", "仙霞", "虹桥", "程家桥",
                    "北新泾", "新泾")  # fmt: skip
    by_short = {s.short: s for s in STREETS[:10]}
    for n, short in enumerate(centre_order, start=1):
        street = by_short[short]
        suffix = "镇" if street.name.endswith("镇") else "街道"
        orgs.append(
            _org(f"310105C{n:03d}", f"上海市长宁区{short}{suffix}社区卫生服务中心",
                 f"{short}社区卫生服务中心", "community_health_center", "一级",
                 tags=("community", "fever_sentinel"), depts=_COMMUNITY_DEPTS,
                 recognition=_SH)
        )  # fmt: skip
    orgs.append(
        _org(
            "310105B001",
            "上海市长宁区新泾镇社区卫生服务中心分中心",
            "新泾分中心",
            "community_health_subcenter",
            parent="310105C010",
            tags=("station",),
        )
    )
    for code, name, centre in _changning_stations():
        orgs.append(
            _org(code, name, name.removeprefix("上海市长宁区"), "community_health_station",
                 parent=centre, tags=("station",))
        )  # fmt: skip
    return orgs


# Stations named in seed 004 (升级更新/优化完善/同址设置 lists); the others are numbered.
_NAMED_STATIONS = {
    "华阳": ("苏一", "华一"),
    "江苏": ("福世", "长新"),
    "新华": ("牛桥",),
    "周家桥": ("范北",),
    "天山": ("纺大",),
    "仙霞": ("茅花", "天五"),
    "虹桥": ("虹东",),
    "北新泾": ("新泾七村",),
    "新泾": ("绿五", "新家苑", "淞五", "虹康", "刘四"),
}
# 44 stations (seed 004: 10 centres, 1 分中心, 44 站 = 55), split roughly by population.
_STATION_COUNTS = {
    "新华": 4, "江苏": 3, "华阳": 4, "周家桥": 4, "天山": 5,
    "仙霞": 6, "虹桥": 5, "程家桥": 2, "北新泾": 4, "新泾": 7,
}  # fmt: skip


def _changning_stations() -> list[tuple[str, str, str]]:
    centre_order = ("新华", "江苏", "华阳", "周家桥", "天山", "仙霞", "虹桥", "程家桥",
                    "北新泾", "新泾")  # fmt: skip
    out: list[tuple[str, str, str]] = []
    seq = 0
    for n, short in enumerate(centre_order, start=1):
        named = _NAMED_STATIONS.get(short, ())
        for k in range(_STATION_COUNTS[short]):
            seq += 1
            label = named[k] if k < len(named) else f"第{k + 1}"
            out.append(
                (
                    f"310105S{seq:03d}",
                    f"上海市长宁区{short}{label}社区卫生服务站",
                    f"310105C{n:03d}",
                )
            )
    assert seq == 44
    return out


def _demo_zone() -> list[Org]:
    hospital = ("hospital", "fever_clinic")
    community = ("community", "fever_sentinel")
    return [
        # 青浦: 4 二级以上 hospitals and community centres in the 示范区 recognition (seed 001).
        _org("310118H001", "复旦大学附属中山医院青浦分院", "中山医院青浦分院", "tertiary_hospital",
             "三级", tags=(*hospital, "tb_designated"), depts=_GENERAL_DEPTS,
             recognition=(*_SH, *_ZONE)),
        _org("310118H002", "上海市青浦区中医医院", "青浦区中医医院", "tcm_hospital", "二级",
             tags=hospital, depts=_TCM_DEPTS, recognition=(*_SH, *_ZONE)),
        _org("310118H003", "上海市青浦区朱家角人民医院", "朱家角人民医院", "secondary_hospital",
             "二级", tags=hospital, depts=_GENERAL_DEPTS, recognition=(*_SH, *_ZONE)),
        _org("310118H004", "复旦大学附属妇产科医院青浦分院", "妇产科医院青浦分院",
             "maternal_child_health", "二级", tags=("hospital", "mch"),
             depts=("妇科", "产科", "检验科"), recognition=(*_SH, *_ZONE)),
        _org("310118I001", "长三角（上海）智慧互联网医院", "长三角智慧互联网医院",
             "internet_hospital", parent="310118H003", tags=("internet",),
             depts=("全科", "心内科", "内分泌科", "呼吸科"), recognition=(*_SH, *_ZONE)),
        _org("310118C001", "上海市青浦区夏阳街道社区卫生服务中心", "夏阳社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS,
             recognition=(*_SH, *_ZONE)),
        _org("310118C002", "上海市青浦区盈浦街道社区卫生服务中心", "盈浦社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS,
             recognition=(*_SH, *_ZONE)),
        _org("310118C003", "上海市青浦区朱家角镇社区卫生服务中心", "朱家角社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS,
             recognition=(*_SH, *_ZONE)),
        _org("310118P001", "上海市青浦区疾病预防控制中心", "青浦区疾控中心", "cdc", tags=("cdc",)),
        # 吴江: 苏州九院 is the 示范区 recognition partner; 一院 and 五院 are on the
        # internet hospital's network.
        _org("320509H001", "苏州市第九人民医院", "苏州九院", "tertiary_hospital", "三级",
             tags=(*hospital, "tb_designated"), depts=_GENERAL_DEPTS, recognition=_ZONE),
        _org("320509H002", "苏州市吴江区第一人民医院", "吴江区第一人民医院", "secondary_hospital",
             "二级", tags=hospital, depts=_GENERAL_DEPTS),
        _org("320509H003", "苏州市吴江区第五人民医院", "吴江区第五人民医院", "secondary_hospital",
             "二级", tags=hospital, depts=_GENERAL_DEPTS),
        _org("320509H004", "苏州市吴江区中医医院", "吴江区中医医院", "tcm_hospital", "二级",
             tags=hospital, depts=_TCM_DEPTS),
        _org("320509C001", "苏州市吴江区松陵街道社区卫生服务中心", "松陵社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS),
        _org("320509C002", "苏州市吴江区盛泽镇社区卫生服务中心", "盛泽社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS),
        _org("320509C003", "苏州市吴江区黎里镇社区卫生服务中心", "黎里社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS),
        _org("320509P001", "苏州市吴江区疾病预防控制中心", "吴江区疾控中心", "cdc", tags=("cdc",)),
        # 嘉善: 一院 is the recognition partner, 二院 the internet-payment pilot (seed 001).
        _org("330421H001", "嘉善县第一人民医院", "嘉善县第一人民医院", "tertiary_hospital", "三级",
             tags=(*hospital, "tb_designated"), depts=_GENERAL_DEPTS, recognition=_ZONE),
        _org("330421H002", "嘉善县第二人民医院", "嘉善县第二人民医院", "secondary_hospital", "二级",
             tags=hospital, depts=_GENERAL_DEPTS),
        _org("330421H003", "嘉善县中医医院", "嘉善县中医医院", "tcm_hospital", "二级",
             tags=hospital, depts=_TCM_DEPTS),
        _org("330421C001", "嘉善县魏塘街道社区卫生服务中心", "魏塘社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS),
        _org("330421C002", "嘉善县罗星街道社区卫生服务中心", "罗星社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS),
        _org("330421C003", "嘉善县西塘镇社区卫生服务中心", "西塘社区卫生服务中心",
             "community_health_center", "一级", tags=community, depts=_COMMUNITY_DEPTS),
        _org("330421P001", "嘉善县疾病预防控制中心", "嘉善县疾控中心", "cdc", tags=("cdc",)),
    ]  # fmt: skip


def _municipal() -> list[Org]:
    # Partners named in seed 002 (华东, 儿童, 龙华) and 001 (中山, 市中医医院).
    return [
        _org("310000H001", "复旦大学附属华东医院", "华东医院", "tertiary_hospital", "三级甲等",
             address="上海市静安区延安西路221号", tags=_HOSPITAL, depts=_GENERAL_DEPTS,
             recognition=_SH),
        _org("310000H002", "上海市儿童医院", "儿童医院", "tertiary_hospital", "三级甲等",
             address="上海市静安区北京西路1400弄24号", tags=("hospital", "paediatric"),
             depts=("儿科", "儿童呼吸科", "放射科", "检验科"), recognition=_SH),
        _org("310000H003", "上海中医药大学附属龙华医院", "龙华医院", "tcm_hospital", "三级甲等",
             address="上海市徐汇区宛平南路725号", tags=_HOSPITAL, depts=_TCM_DEPTS,
             recognition=_SH),
        _org("310000H004", "复旦大学附属中山医院", "中山医院", "tertiary_hospital", "三级甲等",
             address="上海市徐汇区枫林路180号", tags=_HOSPITAL, depts=_GENERAL_DEPTS,
             recognition=(*_SH, *_ZONE)),
        _org("310000H005", "上海市中医医院", "上海市中医医院", "tcm_hospital", "三级甲等",
             address="上海市静安区芷江中路274号", tags=_HOSPITAL, depts=_TCM_DEPTS,
             recognition=_SH),
    ]  # fmt: skip


# 医保局 of every 统筹区 that insures someone in the region (the insurer of a claim).
INSURER_NAMES = {
    SHANGHAI: "上海市医疗保障局",
    "320100": "南京市医疗保障局",
    "320200": "无锡市医疗保障局",
    "320300": "徐州市医疗保障局",
    "320500": "苏州市医疗保障局",
    "320600": "南通市医疗保障局",
    "320900": "盐城市医疗保障局",
    "321000": "扬州市医疗保障局",
    "330100": "杭州市医疗保障局",
    "330200": "宁波市医疗保障局",
    "330300": "温州市医疗保障局",
    "330400": "嘉兴市医疗保障局",
    "330600": "绍兴市医疗保障局",
    "340100": "合肥市医疗保障局",
    "340800": "安庆市医疗保障局",
    "341200": "阜阳市医疗保障局",
    "341300": "宿州市医疗保障局",
    "341500": "六安市医疗保障局",
    "341600": "亳州市医疗保障局",
}


def insurer_code(pooling: str) -> str:
    return f"{pooling}Y001"


def _insurers() -> list[Org]:
    return [
        _org(insurer_code(code), name, name, "insurance_bureau", tags=("insurer",))
        for code, name in INSURER_NAMES.items()
    ]


ORGS: tuple[Org, ...] = tuple(_changning() + _municipal() + _demo_zone() + _insurers())
ORG_BY_CODE = {o.code: o for o in ORGS}
ORG_INDEX = {o.code: n for n, o in enumerate(ORGS)}


def orgs_tagged(tag: str) -> list[Org]:
    return [o for o in ORGS if tag in o.tags]


@cache
def stations_of(centre_code: str) -> tuple[Org, ...]:
    """The 站 (and 分中心) where a centre's residents may be seen."""
    return tuple(o for o in ORGS if o.parent_code == centre_code and "station" in o.tags)


def shared_scheme(a: Org, b: Org) -> str | None:
    """The 互认 scheme both institutions take part in, if any."""
    for scheme in a.recognition:
        if scheme in b.recognition:
            return scheme
    return None


# --- consortia -----------------------------------------------------------------


def _codes(prefix: str, kind: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{kind}{i:03d}" for i in range(1, n + 1))


_CN_CENTRES = _codes("310105", "C", 10)
_ZONE_CENTRES = (
    *_codes("310118", "C", 3),
    *_codes("320509", "C", 3),
    *_codes("330421", "C", 3),
)

CONSORTIA: tuple[Consortium, ...] = (
    Consortium("CN-YLT-01", "长宁区区域整合型医联体", "regional", "310105H001",
               (*_CN_CENTRES, "310105B001", "310105H002", "310105H003", "310105H004",
                "310105H005"), CHANGNING,
               "以区域医疗中心同仁医院为龙头，其他二三级医院为补充，社区卫生服务中心为网底"
               "（seed 002, 004 “全+专”模式医联体）"),
    Consortium("CN-ZYYLT-01", "长宁区区域中医医联体", "tcm", "310105H003", _CN_CENTRES,
               CHANGNING,
               "天山中医医院牵头，派驻中医专家进社区、开设名中医工作室（seed 002, 004）"),
    Consortium("CN-ZKLM-01", "中西医结合关节病专科联盟", "specialty", "310105H002",
               (*_CN_CENTRES, "310118H002"), CHANGNING,
               "光华中西医结合医院牵头的关节病医疗联合体，辐射长三角（seed 002, 004）"),
    Consortium("CN-ZKLM-02", "长宁区区域精神卫生医疗联合体", "specialty", "310105H005",
               _CN_CENTRES, CHANGNING,
               "精卫中心牵头，实现社区卫生服务中心精神科全覆盖（seed 002, 004）"),
    Consortium("CN-ZKLM-03", "长宁区妇幼保健联合体", "specialty", "310105H004", _CN_CENTRES,
               CHANGNING, "区妇幼保健院院所合一，产前产后与社区全程健康管理（seed 004）"),
    Consortium("CN-ANLT-01", "长宁区安宁疗护“1+1+10”服务网络", "specialty", "310105C008",
               ("310105H001", *_CN_CENTRES), CHANGNING,
               "程家桥社区卫生服务中心牵头，同仁医院技术支持，十家中心开展居家和机构安宁疗护"
               "（seed 004 附件1）"),
    Consortium("CN-JKLHT-01", "长宁区疾病控制健康联合体", "regional", "310105P001",
               ("310105H001", "310105H002", "310105H003", "310105H004", "310105H005",
                *_CN_CENTRES), CHANGNING,
               "以区疾控中心为主导、医疗机构为依托、基层医疗卫生机构为网底（seed 004）"),
    Consortium("YRD-ZY-01", "长三角生态绿色一体化发展示范区中医医联体", "cross_region",
               "310000H005", ("310118H002", "320509H004", "330421H003"), None,
               "上海市中医医院牵头，与两区一县中医医院组建（seed 001，2020年8月）"),
    Consortium("YRD-JK-01", "长三角一体化示范区（青浦、吴江、嘉善）疾控联盟", "cross_region",
               "310118P001", ("320509P001", "330421P001"), None, "seed 001"),
    Consortium("YRD-JTYS-01", "长三角一体化示范区家庭医生联盟", "cross_region", "310118C001",
               _ZONE_CENTRES, None, "seed 001"),
    Consortium("YRD-HR-01", "示范区检验检查结果互联互通互认", "cross_region", "310118H001",
               ("310118H002", "310118H003", "310118H004", "310118C001", "310118C002",
                "310118C003", "320509H001", "330421H001"), None,
               "青浦4家二级以上医院、社区卫生服务中心与苏州九院、嘉善县第一人民医院互认"
               "35个检验项目和9大类检查项目（seed 001）"),
    Consortium("YRD-HLW-01", "长三角（上海）智慧互联网医院协作网络", "cross_region", "310118I001",
               ("310000H004", "330421H002", "320509H002", "320509H003", "310118H001",
                "310118H003"), None,
               "与中山医院、嘉善县第二人民医院、吴江区第一和第五人民医院及青浦区域内医疗机构对接"
               "（seed 001）"),
)  # fmt: skip

# --- practitioners ---------------------------------------------------------------

_TITLES = (("主任医师", 0.1), ("副主任医师", 0.2), ("主治医师", 0.4), ("医师", 0.3))
# 4.5 全科医生 per 10,000 residents (seed 004 附件4) sizes the community teams.
_GP_PER_10K = 4.5


def _practitioners() -> list[Practitioner]:
    from yilian.synth import names  # names imports nothing of ours; avoids a cycle at import

    rng = random.Random("yilian-registry")
    out: list[Practitioner] = []
    streets_by_centre: dict[str, int] = {}
    for s in STREETS:
        streets_by_centre[s.centre] = streets_by_centre.get(s.centre, 0) + s.population
    for org in ORGS:
        if "community" in org.tags:
            # Demo-zone streets are a sample of their districts: cap their teams.
            gps = max(6, min(40, round(streets_by_centre.get(org.code, 0) * _GP_PER_10K / 1e4)))
            staffing = [("全科", "family_doctor")] * gps + [
                ("中医科", "doctor"),
                ("预防保健科", "public_health"),
                ("检验科", "technician"),
            ]
        elif "hospital" in org.tags or "internet" in org.tags:
            staffing = []
            for dept in org.departments:
                role = "technician" if dept in ("放射科", "检验科") else "specialist"
                staffing += [(dept, role)] * (4 if "regional_centre" in org.tags else 2)
        elif "cdc" in org.tags:
            staffing = [("传染病防治", "public_health"), ("慢病防治", "public_health")] * 2
        else:
            continue
        for n, (dept, role) in enumerate(staffing, start=1):
            sex = "male" if rng.random() < 0.45 else "female"
            family, given = names.person_name(rng, sex, birth_year=rng.randint(1965, 1995))
            title = rng.choices([t for t, _ in _TITLES], [w for _, w in _TITLES])[0]
            if role == "technician":
                title = "主管技师"
            out.append(
                Practitioner(
                    code=f"{org.code}D{n:03d}",
                    name=family + given,
                    gender=sex,
                    title=title,
                    specialty=dept,
                    role=role,
                    org_code=org.code,
                )
            )
    return out


@lru_cache(maxsize=1)
def practitioners() -> tuple[Practitioner, ...]:
    """Every practitioner, stable across runs and seeds (the region's staff, not the sample's)."""
    return tuple(_practitioners())


@lru_cache(maxsize=1)
def practitioners_by_org() -> dict[str, dict[str, tuple[Practitioner, ...]]]:
    """``org code → specialty → practitioners``, for picking who saw a patient."""
    out: dict[str, dict[str, list[Practitioner]]] = {}
    for p in practitioners():
        out.setdefault(p.org_code, {}).setdefault(p.specialty, []).append(p)
    return {o: {d: tuple(ps) for d, ps in depts.items()} for o, depts in out.items()}


def registry_payload() -> dict[str, list[dict[str, Any]]]:
    """Return regions, organisations, consortia and practitioners in the registry's seed shapes.

    The shapes are those of ``yilian.registry.service.load_registry`` (codes refer
    to each other; parents may follow children).
    """
    regions = [
        {
            "code": r.code,
            "name": r.name,
            "level": r.level,
            "parent_code": r.parent_code,
            "area_km2": r.area_km2,
            "population": r.population,
            "gdp": r.gdp,
        }
        for r in REGIONS
    ]
    organizations = [
        {
            "code": o.code,
            "name": o.name,
            "short_name": o.short_name,
            "type": o.type,
            "level": o.level,
            "region_code": _org_region(o),
            "parent_code": o.parent_code,
            "address": o.address,
            "insurance_designated": o.type not in ("cdc", "insurance_bureau"),
        }
        for o in ORGS
    ]
    consortia = [
        {
            "code": c.code,
            "name": c.name,
            "kind": c.kind,
            "lead_code": c.lead_code,
            "region_code": c.region_code,
            "description": c.description,
            "member_codes": list(c.member_codes),
        }
        for c in CONSORTIA
    ]
    staff = [
        {
            "license_no": p.code,
            "name": p.name,
            "gender": p.gender,
            "title": p.title,
            "specialties": [p.specialty],
            "roles": [
                {
                    "organization_code": p.org_code,
                    "role": p.role,
                    "specialty": p.specialty,
                    "is_primary": True,
                }
            ],
        }
        for p in practitioners()
    ]
    return {
        "regions": regions,
        "organizations": organizations,
        "consortia": consortia,
        "practitioners": staff,
    }


def _org_region(org: Org) -> str:
    # Community institutions sit in their street; others in their district; insurers in
    # their 统筹区 (a province for 上海, a city elsewhere).
    if "insurer" in org.tags:
        return org.region_code
    if org.type.startswith("community_health"):
        centre = org.parent_code or org.code
        for s in STREETS:
            if s.centre == centre:
                return s.code
    if org.region_code == SHANGHAI:
        return "310100"
    return org.region_code
