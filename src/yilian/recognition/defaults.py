"""The default recognition catalogue: 35 lab items and 9 imaging categories (示范区互认目录).

Seed 001 gives the counts of the 长三角生态绿色一体化发展示范区 list (35 检验项目, 9 大类
检查项目) but not the items. The items here are built from the example lists of domain
primary-care-rules §5 (Ganzhou's 19 biochemistry items, infection and tumour markers; the
Hubei windows) and the national definition of 检查 (X-ray, CT, MRI, ultrasound,
electrophysiology). Codes the synthetic generator emits (yilian.synth.catalogue) are all
mapped, so the demo's results are indexed. Reference prices (元) are assumptions of a
Shanghai public hospital's order of magnitude, not a price list. See docs/recognition.md.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"


@dataclass(frozen=True)
class DefaultItem:
    code: str  # catalogue item code, stable across catalogues
    name: str  # Chinese name as on the order sheet
    kind: str  # lab | imaging
    group: str  # validity-window group (RecognitionSettings.window_<group>)
    price: float  # reference price, 元
    loinc: tuple[str, ...]  # LOINC codes that are this item


DEFAULT_ITEMS: tuple[DefaultItem, ...] = (
    # Biochemistry (生化), 30 days.
    DefaultItem("TP", "总蛋白", "lab", "chemistry", 4.0, ("2885-2",)),
    DefaultItem("ALB", "白蛋白", "lab", "chemistry", 4.0, ("1751-7",)),
    DefaultItem("ALT", "丙氨酸氨基转移酶", "lab", "chemistry", 5.0, ("1742-6",)),
    DefaultItem("AST", "天门冬氨酸氨基转移酶", "lab", "chemistry", 5.0, ("1920-8",)),
    DefaultItem("ALP", "碱性磷酸酶", "lab", "chemistry", 5.0, ("6768-6",)),
    DefaultItem("GGT", "γ-谷氨酰转移酶", "lab", "chemistry", 5.0, ("2324-2",)),
    DefaultItem("TBIL", "总胆红素", "lab", "chemistry", 4.0, ("14631-6", "1975-2")),
    DefaultItem("DBIL", "直接胆红素", "lab", "chemistry", 4.0, ("14629-0", "1968-7")),
    DefaultItem("UREA", "尿素", "lab", "chemistry", 4.0, ("22664-7", "3094-0")),
    DefaultItem("CREA", "肌酐", "lab", "chemistry", 5.0, ("14682-9", "2160-0")),
    DefaultItem("UA", "尿酸", "lab", "chemistry", 5.0, ("14933-6", "3084-1")),
    DefaultItem("GLU", "空腹血糖", "lab", "chemistry", 5.0, ("14771-0", "15074-8", "2345-7")),
    DefaultItem("TC", "总胆固醇", "lab", "chemistry", 5.0, ("14647-2", "2093-3")),
    DefaultItem("TG", "甘油三酯", "lab", "chemistry", 5.0, ("14927-8", "2571-8")),
    DefaultItem("HDLC", "高密度脂蛋白胆固醇", "lab", "chemistry", 8.0, ("14646-4", "2085-9")),
    DefaultItem(
        "LDLC", "低密度脂蛋白胆固醇", "lab", "chemistry", 8.0, ("22748-8", "13457-7", "18262-6")
    ),
    DefaultItem("APOA1", "载脂蛋白A1", "lab", "chemistry", 10.0, ("1869-7",)),
    DefaultItem("APOB", "载脂蛋白B", "lab", "chemistry", 10.0, ("1884-6",)),
    DefaultItem("LPA", "脂蛋白(a)", "lab", "chemistry", 15.0, ("10835-7",)),
    DefaultItem("LDH", "乳酸脱氢酶", "lab", "chemistry", 5.0, ("2532-0",)),
    DefaultItem("CRP", "C反应蛋白", "lab", "chemistry", 20.0, ("1988-5",)),
    # HbA1c, 60 days.
    DefaultItem("HBA1C", "糖化血红蛋白", "lab", "hba1c", 60.0, ("4548-4", "17856-6")),
    # Electrolytes (电解质), 7 days.
    DefaultItem("K", "钾", "lab", "electrolytes", 3.0, ("2823-3",)),
    DefaultItem("NA", "钠", "lab", "electrolytes", 3.0, ("2951-2",)),
    DefaultItem("CL", "氯", "lab", "electrolytes", 3.0, ("2075-0",)),
    DefaultItem("CA", "钙", "lab", "electrolytes", 3.0, ("2000-8", "17861-6")),
    # Blood count (血常规), 7 days.
    DefaultItem("WBC", "白细胞计数", "lab", "haematology", 5.0, ("6690-2",)),
    DefaultItem("RBC", "红细胞计数", "lab", "haematology", 5.0, ("789-8",)),
    DefaultItem("HGB", "血红蛋白", "lab", "haematology", 5.0, ("718-7",)),
    DefaultItem("PLT", "血小板计数", "lab", "haematology", 5.0, ("777-3",)),
    # Infection markers (感染标志物), 30 days.
    DefaultItem("HBSAG", "乙肝表面抗原", "lab", "serology", 10.0, ("5196-1",)),
    DefaultItem("HCVAB", "丙肝抗体", "lab", "serology", 30.0, ("16128-1",)),
    # Tumour markers (肿瘤标志物), 30 days.
    DefaultItem("AFP", "甲胎蛋白", "lab", "tumour", 30.0, ("1834-1",)),
    DefaultItem("CEA", "癌胚抗原", "lab", "tumour", 30.0, ("2039-6",)),
    DefaultItem("PSA", "前列腺特异性抗原", "lab", "tumour", 40.0, ("2857-1",)),
    # Imaging categories (检查), 30 days.
    DefaultItem("XR_CHEST", "胸部X线摄影", "imaging", "imaging", 60.0, ("36643-5", "36554-4")),
    DefaultItem("CT_CHEST", "胸部CT", "imaging", "imaging", 190.0, ("24627-2",)),
    DefaultItem("CT_HEAD", "头颅CT", "imaging", "imaging", 170.0, ("24725-4",)),
    DefaultItem("MR_HEAD", "头颅MRI", "imaging", "imaging", 460.0, ("24590-2",)),
    DefaultItem("US_ABD", "腹部超声", "imaging", "imaging", 80.0, ("24558-9",)),
    DefaultItem("US_THYROID", "甲状腺超声", "imaging", "imaging", 60.0, ("24842-7",)),
    DefaultItem("ECHO", "超声心动图", "imaging", "imaging", 190.0, ("42148-7", "34552-0")),
    DefaultItem("ECG", "常规心电图", "imaging", "imaging", 20.0, ("11524-6",)),
    DefaultItem("MG_BREAST", "乳腺X线摄影", "imaging", "imaging", 120.0, ("24606-6", "24605-8")),
)

DEFAULT_CATALOGUE_CODE = "YRD-DEMO-ZONE"
DEFAULT_CATALOGUE_NAME = "长三角生态绿色一体化发展示范区检验检查结果互认目录"
DEFAULT_CATALOGUE_SOURCE = (
    "seed 001: 青浦区4家二级以上医院、12家社区卫生服务中心与苏州九院、嘉善县第一人民医院"
    "互认 35 个检验项目和 9 大类检查项目；项目明细见 docs/recognition.md"
)


def default_code_map() -> dict[tuple[str, str], str]:
    """(system, code) → item code, for every LOINC code of the default items."""
    return {(LOINC, loinc): item.code for item in DEFAULT_ITEMS for loinc in item.loinc}
