"""UI strings, Chinese first. A page asks ``t(key)``; unknown keys show themselves."""

from __future__ import annotations

LANGUAGES = ("zh-CN", "en")
LANG_COOKIE = "yilian_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "app.name": {"zh-CN": "医联 · 区域医疗数智基座", "en": "yilian · regional health platform"},
    "app.short": {"zh-CN": "医联", "en": "yilian"},
    "lang.switch": {"zh-CN": "English", "en": "中文"},
    "login.title": {"zh-CN": "登录", "en": "Sign in"},
    "login.username": {"zh-CN": "用户名", "en": "Username"},
    "login.password": {"zh-CN": "密码", "en": "Password"},
    "login.submit": {"zh-CN": "登录", "en": "Sign in"},
    "login.failed": {"zh-CN": "用户名或密码错误", "en": "Wrong username or password"},
    "login.locked": {
        "zh-CN": "登录失败次数过多，账户已暂时锁定，请稍后再试",
        "en": "Too many failed sign-ins; the account is locked for a while",
    },
    "login.throttled": {
        "zh-CN": "尝试过于频繁，请稍后再试",
        "en": "Too many attempts; try again shortly",
    },
    "login.demo_hint": {
        "zh-CN": "演示账号见 README（如 admin / yilian-demo）",
        "en": "Demo accounts are listed in the README (e.g. admin / yilian-demo)",
    },
    "logout": {"zh-CN": "退出", "en": "Sign out"},
    "nav.home": {"zh-CN": "首页", "en": "Home"},
    "nav.organizations": {"zh-CN": "机构与医联体", "en": "Organisations"},
    "nav.audit": {"zh-CN": "审计日志", "en": "Audit log"},
    "nav.users": {"zh-CN": "用户管理", "en": "Users"},
    "nav.api": {"zh-CN": "接口文档", "en": "API docs"},
    "home.welcome": {"zh-CN": "欢迎，{name}", "en": "Welcome, {name}"},
    "home.role": {"zh-CN": "角色", "en": "Role"},
    "home.org": {"zh-CN": "所属机构", "en": "Organisation"},
    "home.stats": {"zh-CN": "平台概况", "en": "Platform at a glance"},
    "stat.regions": {"zh-CN": "行政区划", "en": "Regions"},
    "stat.organizations": {"zh-CN": "医疗卫生机构", "en": "Organisations"},
    "stat.consortia": {"zh-CN": "医联体 / 专科联盟", "en": "Consortia"},
    "stat.practitioners": {"zh-CN": "医务人员", "en": "Practitioners"},
    "org.title": {"zh-CN": "机构与医联体浏览", "en": "Organisations and consortia"},
    "org.regions": {"zh-CN": "行政区划", "en": "Regions"},
    "org.all_regions": {"zh-CN": "全部地区", "en": "All regions"},
    "org.search": {"zh-CN": "按名称或编码搜索", "en": "Search name or code"},
    "org.type": {"zh-CN": "机构类型", "en": "Type"},
    "org.any_type": {"zh-CN": "全部类型", "en": "All types"},
    "org.name": {"zh-CN": "机构名称", "en": "Name"},
    "org.code": {"zh-CN": "机构编码", "en": "Code"},
    "org.level": {"zh-CN": "等级", "en": "Level"},
    "org.region": {"zh-CN": "所在地区", "en": "Region"},
    "org.designated": {"zh-CN": "医保定点", "en": "Insurance-designated"},
    "org.count": {"zh-CN": "共 {n} 家机构", "en": "{n} organisations"},
    "org.none": {"zh-CN": "没有符合条件的机构", "en": "No organisation matches"},
    "org.consortia": {"zh-CN": "医联体", "en": "Consortia"},
    "org.lead": {"zh-CN": "牵头单位", "en": "Lead"},
    "org.members": {"zh-CN": "成员数", "en": "Members"},
    "org.kind": {"zh-CN": "类型", "en": "Kind"},
    "org.chart": {"zh-CN": "各地区机构分布", "en": "Organisations by region"},
    "yes": {"zh-CN": "是", "en": "Yes"},
    "no": {"zh-CN": "否", "en": "No"},
    "prev": {"zh-CN": "上一页", "en": "Previous"},
    "next": {"zh-CN": "下一页", "en": "Next"},
    "forbidden": {"zh-CN": "您的角色无权访问此页面", "en": "Your role may not open this page"},
    "audit.title": {"zh-CN": "审计日志", "en": "Audit log"},
    "audit.intact": {
        "zh-CN": "审计链完整：已校验 {n} 条记录",
        "en": "Audit chain intact: {n} entries checked",
    },
    "audit.broken": {
        "zh-CN": "审计链在第 {seq} 条记录处被破坏：{reason}",
        "en": "Audit chain broken at entry #{seq}: {reason}",
    },
    "audit.seq": {"zh-CN": "序号", "en": "#"},
    "audit.at": {"zh-CN": "时间 (UTC)", "en": "Time (UTC)"},
    "audit.actor": {"zh-CN": "操作者", "en": "Actor"},
    "audit.role": {"zh-CN": "角色", "en": "Role"},
    "audit.action": {"zh-CN": "操作", "en": "Action"},
    "audit.resource": {"zh-CN": "对象", "en": "Resource"},
    "audit.person": {"zh-CN": "涉及居民", "en": "Person"},
    "audit.outcome": {"zh-CN": "结果", "en": "Outcome"},
    "audit.total": {"zh-CN": "共 {n} 条", "en": "{n} entries"},
    "error.title": {"zh-CN": "出错了", "en": "Something went wrong"},
    "nav.persons": {"zh-CN": "居民健康档案", "en": "Health records"},
    "record.search_title": {"zh-CN": "居民健康档案查询", "en": "Find a person's record"},
    "record.search_hint": {"zh-CN": "姓名或拼音", "en": "Name or pinyin"},
    "record.search": {"zh-CN": "查询", "en": "Search"},
    "record.no_match": {"zh-CN": "没有找到匹配的居民", "en": "No person matches"},
    "record.name": {"zh-CN": "姓名", "en": "Name"},
    "record.birth": {"zh-CN": "出生日期", "en": "Birth date"},
    "record.identifiers": {"zh-CN": "证件号", "en": "Identifiers"},
    "record.unnamed": {"zh-CN": "（无姓名）", "en": "(no name)"},
    "record.gender.male": {"zh-CN": "男", "en": "Male"},
    "record.gender.female": {"zh-CN": "女", "en": "Female"},
    "record.gender.other": {"zh-CN": "其他", "en": "Other"},
    "record.gender.unknown": {"zh-CN": "未知", "en": "Unknown"},
    "record.ident.id_card": {"zh-CN": "身份证", "en": "ID card"},
    "record.ident.insurance": {"zh-CN": "社保卡", "en": "Insurance card"},
    "record.ident.health_card": {"zh-CN": "健康卡", "en": "Health card"},
    "record.institutions": {"zh-CN": "来源机构 {n} 家", "en": "{n} source institutions"},
    "record.access_log": {"zh-CN": "谁查看了此档案", "en": "Who read this record"},
    "record.act.recognition": {"zh-CN": "检查检验互认核查", "en": "Check recognisable results"},
    "record.act.referral": {"zh-CN": "发起转诊", "en": "Refer"},
    "record.act.consult": {"zh-CN": "发起会诊", "en": "Request a consultation"},
    "record.act.chronic": {"zh-CN": "慢病管理", "en": "Chronic care"},
    "record.problems": {"zh-CN": "问题列表", "en": "Problems"},
    "record.encounters": {"zh-CN": "就诊记录", "en": "Encounters"},
    "record.results": {"zh-CN": "检验结果", "en": "Results"},
    "record.medications": {"zh-CN": "用药", "en": "Medications"},
    "record.imaging": {"zh-CN": "影像/报告", "en": "Imaging and reports"},
    "record.documents": {"zh-CN": "文档", "en": "Documents"},
    "record.when": {"zh-CN": "时间", "en": "When"},
    "record.item": {"zh-CN": "项目", "en": "Item"},
    "record.status": {"zh-CN": "状态", "en": "Status"},
    "record.value": {"zh-CN": "结果", "en": "Value"},
    "record.dosage": {"zh-CN": "用法用量", "en": "Dosage"},
    "record.conclusion": {"zh-CN": "结论", "en": "Conclusion"},
    "record.description": {"zh-CN": "说明", "en": "Description"},
    "record.source": {"zh-CN": "来源机构", "en": "Source"},
    "record.unknown_source": {"zh-CN": "平台录入", "en": "Platform"},
    "record.none": {"zh-CN": "暂无记录", "en": "Nothing recorded"},
    "record.class.AMB": {"zh-CN": "门诊", "en": "Outpatient"},
    "record.class.IMP": {"zh-CN": "住院", "en": "Inpatient"},
    "record.class.EMER": {"zh-CN": "急诊", "en": "Emergency"},
    "record.class.HH": {"zh-CN": "家庭访视", "en": "Home visit"},
    "record.class.VR": {"zh-CN": "远程", "en": "Virtual"},
    "consent.title": {"zh-CN": "知情同意与共享", "en": "Consent and sharing"},
    "consent.scope": {"zh-CN": "共享范围", "en": "Scope"},
    "consent.scope.organization": {"zh-CN": "指定机构", "en": "One organisation"},
    "consent.scope.consortium": {"zh-CN": "医联体内", "en": "Consortium"},
    "consent.scope.region": {"zh-CN": "全区域", "en": "Whole region"},
    "consent.organization": {"zh-CN": "机构", "en": "Organisation"},
    "consent.granted": {"zh-CN": "同意时间", "en": "Granted"},
    "consent.withdrawn": {"zh-CN": "撤回时间", "en": "Withdrawn"},
    "consent.status.active": {"zh-CN": "有效", "en": "Active"},
    "consent.status.withdrawn": {"zh-CN": "已撤回", "en": "Withdrawn"},
    "consent.none": {
        "zh-CN": "尚无知情同意记录，按默认策略仅诊疗机构可调阅",
        "en": "No consent recorded; by default only treating institutions may read",
    },
    "consent.org_hint": {
        "zh-CN": "机构 ID（指定机构时填写）",
        "en": "Organisation id (for one organisation)",
    },
    "consent.record": {"zh-CN": "登记同意", "en": "Record consent"},
    "consent.withdraw": {"zh-CN": "撤回同意", "en": "Withdraw"},
}


def pick_language(cookie: str | None) -> str:
    """Chinese unless the user chose English with the toggle.

    Accept-Language is not consulted: staff machines often run an English browser,
    and the users asked for a Chinese-first interface.
    """
    return cookie if cookie in LANGUAGES else "zh-CN"


def add_messages(messages: dict[str, dict[str, str]]) -> None:
    """Let a domain register its own UI strings (each entry needs at least "zh-CN")."""
    for key, entry in messages.items():
        if "zh-CN" not in entry:
            raise ValueError(f"UI string {key!r} has no zh-CN text")
        existing = MESSAGES.get(key)
        if existing is not None and existing != entry:
            raise ValueError(f"UI string {key!r} is defined twice with different texts")
        MESSAGES[key] = entry


def translate(lang: str, key: str, **params: object) -> str:
    entry = MESSAGES.get(key)
    text = key if entry is None else entry.get(lang) or entry["zh-CN"]
    return text.format(**params) if params else text
