"""Clinical vocabularies of the generator: lab items, imaging, drugs and acute diagnoses.

Codes are LOINC (labs, imaging reports), ICD-10 (diagnoses) and WHO ATC (drugs,
with the Chinese generic name as text). Each institution also has its own local
lab codes and names (:func:`local_lab_code`), as real LIS systems do, so that
catalogue matching and mutual recognition meet the variety they will meet in
production. Value distributions are plausible adult values in Chinese units
(mmol/L, μmol/L, g/L); they are for testing software, not for clinical use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class LabItem:
    key: str
    loinc: str
    display: str
    zh: str
    unit: str  # UCUM
    low: float | None
    high: float | None
    group: str  # recognition window group: chemistry, electrolytes, haematology, hba1c, ...
    decimals: int
    # (mean, sd) for men, women, and when the disease flag of the item applies
    male: tuple[float, float]
    female: tuple[float, float]
    disease: tuple[float, float] | None = None
    # Local (code, name) variants: institutions pick one by their index.
    local: tuple[tuple[str, str], ...] = ()


LAB_ITEMS: dict[str, LabItem] = {
    i.key: i
    for i in (
        LabItem("glu", "14771-0", "Glucose [Moles/volume] in Serum or Plasma --fasting", "空腹血糖",
                "mmol/L", 3.9, 6.1, "chemistry", 1, (5.2, 0.5), (5.1, 0.5), (8.0, 1.9),
                (("GLU", "葡萄糖"), ("FBG", "空腹血糖"), ("1001", "空腹血浆葡萄糖"))),
        LabItem("hba1c", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "糖化血红蛋白",
                "%", 4.0, 6.0, "hba1c", 1, (5.4, 0.35), (5.4, 0.35), (7.4, 1.2),
                (("HBA1C", "糖化血红蛋白"), ("GHB", "糖化血红蛋白A1c"), ("2031", "HbA1c"))),
        LabItem("tc", "14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", "总胆固醇",
                "mmol/L", None, 5.2, "chemistry", 2, (4.8, 0.9), (4.9, 0.9), None,
                (("TC", "总胆固醇"), ("CHOL", "胆固醇"), ("1101", "血清总胆固醇"))),
        LabItem("tg", "14927-8", "Triglyceride [Moles/volume] in Serum or Plasma", "甘油三酯",
                "mmol/L", None, 1.7, "chemistry", 2, (1.6, 0.8), (1.3, 0.6), None,
                (("TG", "甘油三酯"), ("TRIG", "三酰甘油"), ("1102", "血清甘油三酯"))),
        LabItem("ldl", "22748-8", "Cholesterol in LDL [Moles/volume] in Serum or Plasma",
                "低密度脂蛋白胆固醇", "mmol/L", None, 3.4, "chemistry", 2, (2.9, 0.8),
                (2.9, 0.8), None,
                (("LDL-C", "低密度脂蛋白胆固醇"), ("LDL", "低密度脂蛋白"), ("1104", "LDL-C"))),
        LabItem("hdl", "14646-4", "Cholesterol in HDL [Moles/volume] in Serum or Plasma",
                "高密度脂蛋白胆固醇", "mmol/L", 1.0, None, "chemistry", 2, (1.15, 0.25),
                (1.4, 0.3), None,
                (("HDL-C", "高密度脂蛋白胆固醇"), ("HDL", "高密度脂蛋白"), ("1103", "HDL-C"))),
        LabItem("cr", "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "肌酐",
                "umol/L", 41.0, 111.0, "chemistry", 0, (82.0, 15.0), (62.0, 12.0), None,
                (("CREA", "肌酐"), ("CR", "血清肌酐"), ("1201", "肌酐(酶法)"))),
        LabItem("alt", "1742-6",
                "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
                "丙氨酸氨基转移酶", "U/L", 9.0, 50.0, "chemistry", 0, (26.0, 12.0),
                (19.0, 9.0), None,
                (("ALT", "丙氨酸氨基转移酶"), ("GPT", "谷丙转氨酶"), ("1301", "ALT"))),
        LabItem("k", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "钾",
                "mmol/L", 3.5, 5.3, "electrolytes", 2, (4.1, 0.35), (4.0, 0.35), None,
                (("K", "钾"), ("K+", "血清钾"), ("1401", "钾离子"))),
        LabItem("na", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "钠",
                "mmol/L", 137.0, 147.0, "electrolytes", 1, (141.0, 2.2), (140.5, 2.2), None,
                (("NA", "钠"), ("NA+", "血清钠"), ("1402", "钠离子"))),
        LabItem("wbc", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "白细胞计数",
                "10*9/L", 3.5, 9.5, "haematology", 2, (6.3, 1.5), (6.0, 1.5), (12.0, 3.0),
                (("WBC", "白细胞计数"), ("WBC#", "白细胞"), ("0101", "白细胞总数"))),
        LabItem("hgb", "718-7", "Hemoglobin [Mass/volume] in Blood", "血红蛋白",
                "g/L", 115.0, 175.0, "haematology", 0, (148.0, 11.0), (128.0, 10.0), None,
                (("HGB", "血红蛋白"), ("HB", "血红蛋白浓度"), ("0102", "血红蛋白"))),
        LabItem("plt", "777-3", "Platelets [#/volume] in Blood by Automated count", "血小板计数",
                "10*9/L", 125.0, 350.0, "haematology", 0, (225.0, 50.0), (240.0, 55.0), None,
                (("PLT", "血小板计数"), ("PLT#", "血小板"), ("0103", "血小板总数"))),
        LabItem("crp", "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma",
                "C反应蛋白", "mg/L", None, 10.0, "chemistry", 1, (2.5, 1.5), (2.5, 1.5),
                (28.0, 15.0), (("CRP", "C反应蛋白"), ("HSCRP", "超敏C反应蛋白"), ("1501", "CRP"))),
    )
}  # fmt: skip

# Qualitative items: (loinc, display, zh, group, local variants)
SMEAR = ("11545-1", "Microscopic observation [Identifier] in Specimen by Acid fast stain",
         "痰涂片抗酸染色", "microbiology", (("AFB", "抗酸杆菌涂片"), ("TB-SM", "痰涂片"),
                                            ("5101", "抗酸染色")))  # fmt: skip
CULTURE = ("543-9", "Mycobacterium sp identified in Specimen by Organism specific culture",
           "结核分枝杆菌培养", "microbiology",
           (("MTB-C", "结核杆菌培养"), ("TB-CUL", "分枝杆菌培养"),
            ("5102", "结核培养")))  # fmt: skip
RIF = ("18974-6", "rifAMPin [Susceptibility]", "利福平耐药检测", "microbiology",
       (("RIF", "利福平敏感性"), ("RIF-R", "利福平耐药"), ("5103", "利福平药敏")))  # fmt: skip
HBSAG = ("5196-1", "Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay",
         "乙肝表面抗原", "chemistry", (("HBSAG", "乙肝表面抗原"), ("HBS-AG", "HBsAg"),
                                          ("1601", "乙型肝炎表面抗原")))  # fmt: skip

# Panels ordered together and reported as one DiagnosticReport.
PANELS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # key: (loinc, display, zh, items)
    "glu": ("14771-0", "Glucose [Moles/volume] in Serum or Plasma --fasting", "空腹血糖", ("glu",)),
    "hba1c": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "糖化血红蛋白", ("hba1c",)),
    "lipid": ("57698-3", "Lipid panel with direct LDL - Serum or Plasma", "血脂四项",
              ("tc", "tg", "ldl", "hdl")),
    "chem": ("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma", "肝肾功能电解质",
             ("cr", "alt", "k", "na")),
    "cbc": ("58410-2", "CBC panel - Blood by Automated count", "血常规", ("wbc", "hgb", "plt")),
    "crp": ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "C反应蛋白", ("crp",)),
}  # fmt: skip


def local_lab_code(org_index: int, local: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """The institution's own code and name for an item (each LIS has its own catalogue)."""
    return local[org_index % len(local)]


def draw_lab_value(item: LabItem, rng: random.Random, sex: str, diseased: bool) -> float:
    mean, sd = (
        item.disease if diseased and item.disease else (item.male if sex == "male" else item.female)
    )
    value = rng.gauss(mean, sd)
    floor = (item.low or mean * 0.2) * 0.3
    return round(max(value, floor), item.decimals)


def interpretation(item: LabItem, value: float) -> str:
    if item.high is not None and value > item.high:
        return "H"
    if item.low is not None and value < item.low:
        return "L"
    return "N"


@dataclass(frozen=True)
class Imaging:
    key: str
    loinc: str
    display: str
    zh: str
    normal: str
    abnormal: str


IMAGING: dict[str, Imaging] = {
    i.key: i
    for i in (
        Imaging("chest_xr", "36643-5", "XR Chest 2 Views", "胸部正侧位片",
                "两肺纹理清晰，心影大小形态未见异常。", "右下肺野见斑片状模糊影，考虑炎症。"),
        Imaging("chest_ct", "24627-2", "CT Chest", "胸部CT平扫",
                "两肺未见明显实质性病变，纵隔淋巴结未见肿大。",
                "右上肺尖后段见斑片及结节影，伴小空洞形成，考虑继发性肺结核。"),
        Imaging("abd_us", "24558-9", "US Abdomen", "腹部超声",
                "肝胆胰脾未见明显异常。", "脂肪肝（轻度）。"),
        Imaging("ecg", "11524-6", "EKG study", "常规心电图",
                "窦性心律，正常心电图。", "窦性心律，ST-T改变。"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Drug:
    key: str
    atc: str | None
    zh: str
    dose: str
    days: int  # default supply for one prescription


DRUGS: dict[str, Drug] = {
    d.key: d
    for d in (
        Drug("amlodipine", "C08CA01", "苯磺酸氨氯地平片", "5mg 口服 每日一次", 28),
        Drug("nifedipine", "C08CA05", "硝苯地平控释片", "30mg 口服 每日一次", 28),
        Drug("valsartan", "C09CA03", "缬沙坦胶囊", "80mg 口服 每日一次", 28),
        Drug("irbesartan", "C09CA04", "厄贝沙坦片", "150mg 口服 每日一次", 28),
        Drug("metoprolol", "C07AB02", "酒石酸美托洛尔片", "25mg 口服 每日两次", 28),
        Drug("hctz", "C03AA03", "氢氯噻嗪片", "12.5mg 口服 每日一次", 28),
        Drug("metformin", "A10BA02", "盐酸二甲双胍片", "0.5g 口服 每日三次", 28),
        Drug("acarbose", "A10BF01", "阿卡波糖片", "50mg 口服 每日三次 随餐", 28),
        Drug("gliclazide", "A10BB09", "格列齐特缓释片", "30mg 口服 每日一次", 28),
        Drug("glargine", "A10AE04", "甘精胰岛素注射液", "10单位 皮下注射 每晚一次", 28),
        Drug("tiotropium", "R03BB04", "噻托溴铵粉吸入剂", "18μg 吸入 每日一次", 30),
        Drug("salmeterol_fluticasone", "R03AK06", "沙美特罗替卡松粉吸入剂", "1吸 吸入 每日两次",
             30),
        Drug("aspirin", "B01AC06", "阿司匹林肠溶片", "100mg 口服 每日一次", 28),
        Drug("atorvastatin", "C10AA05", "阿托伐他汀钙片", "20mg 口服 每晚一次", 28),
        Drug("isosorbide", "C01DA14", "单硝酸异山梨酯缓释片", "40mg 口服 每日一次", 28),
        Drug("amoxicillin", "J01CA04", "阿莫西林胶囊", "0.5g 口服 每日三次", 5),
        Drug("cefuroxime", "J01DC02", "头孢呋辛酯片", "0.25g 口服 每日两次", 5),
        Drug("azithromycin", "J01FA10", "阿奇霉素片", "0.5g 口服 每日一次", 3),
        Drug("ibuprofen", "M01AE01", "布洛芬缓释胶囊", "0.3g 口服 每日两次", 3),
        Drug("paracetamol", "N02BE01", "对乙酰氨基酚片", "0.5g 口服 发热时", 3),
        Drug("oseltamivir", "J05AH02", "磷酸奥司他韦胶囊", "75mg 口服 每日两次", 5),
        Drug("smectite", "A07BC05", "蒙脱石散", "3g 口服 每日三次", 3),
        Drug("loratadine", "R06AX13", "氯雷他定片", "10mg 口服 每日一次", 7),
        Drug("omeprazole", "A02BC01", "奥美拉唑肠溶胶囊", "20mg 口服 每日一次", 14),
        Drug("lianhua", None, "连花清瘟胶囊", "1.4g 口服 每日三次", 5),
        Drug("diclofenac_gel", "M02AA15", "双氯芬酸二乙胺乳胶剂", "适量 外用 每日三次", 14),
        Drug("entecavir", "J05AF10", "恩替卡韦片", "0.5mg 口服 每日一次", 28),
        Drug("isoniazid", "J04AC01", "异烟肼片", "0.3g 口服 每日一次", 30),
        Drug("rifampicin", "J04AB02", "利福平胶囊", "0.45g 口服 每日一次 空腹", 30),
        Drug("pyrazinamide", "J04AK01", "吡嗪酰胺片", "1.5g 口服 每日一次", 30),
        Drug("ethambutol", "J04AK02", "盐酸乙胺丁醇片", "0.75g 口服 每日一次", 30),
        Drug("bedaquiline", "J04AK05", "富马酸贝达喹啉片", "200mg 口服 每周三次", 30),
        Drug("linezolid", "J01XX08", "利奈唑胺片", "0.6g 口服 每日一次", 30),
        Drug("levofloxacin", "J01MA12", "左氧氟沙星片", "0.75g 口服 每日一次", 30),
        Drug("cycloserine", "J04AB01", "环丝氨酸胶囊", "0.25g 口服 每日两次", 30),
        Drug("clofazimine", "J04BA01", "氯法齐明软胶囊", "100mg 口服 每日一次", 30),
    )
}  # fmt: skip

# Chronic regimens: condition → alternative drug lists (a person keeps one).
CHRONIC_REGIMENS: dict[str, tuple[tuple[str, ...], ...]] = {
    "hypertension": (("amlodipine",), ("nifedipine",), ("valsartan",), ("irbesartan",),
                     ("amlodipine", "valsartan"), ("metoprolol", "hctz")),
    "diabetes": (("metformin",), ("metformin", "acarbose"), ("metformin", "gliclazide"),
                 ("glargine", "metformin")),
    "copd": (("tiotropium",), ("salmeterol_fluticasone",),
             ("tiotropium", "salmeterol_fluticasone")),
    "chd": (("aspirin", "atorvastatin"), ("aspirin", "atorvastatin", "isosorbide")),
}  # fmt: skip

TB_REGIMEN = ("isoniazid", "rifampicin", "pyrazinamide", "ethambutol")
TB_CONTINUATION = ("isoniazid", "rifampicin")
RR_TB_REGIMEN = ("bedaquiline", "linezolid", "levofloxacin", "cycloserine", "clofazimine")


@dataclass(frozen=True)
class AcuteDx:
    code: str
    zh: str
    ages: tuple[int, int]
    weight: float
    season: str  # winter | summer | spring | none
    drugs: tuple[str, ...]  # one is prescribed
    hospital_labs: tuple[str, ...]
    imaging: str | None
    respiratory: bool
    infection: bool  # raises WBC and CRP


ACUTE: tuple[AcuteDx, ...] = (
    AcuteDx("J06.9", "急性上呼吸道感染", (0, 120), 30, "winter",
            ("paracetamol", "lianhua", "loratadine"), ("cbc",), None, True, True),
    AcuteDx("J20.9", "急性支气管炎", (0, 120), 10, "winter",
            ("cefuroxime", "amoxicillin"), ("cbc", "crp"), "chest_xr", True, True),
    AcuteDx("J18.9", "肺炎", (0, 120), 3, "winter",
            ("azithromycin", "cefuroxime"), ("cbc", "crp"), "chest_xr", True, True),
    AcuteDx("J02.9", "急性咽炎", (3, 120), 8, "winter",
            ("amoxicillin", "lianhua"), ("cbc",), None, True, True),
    AcuteDx("K52.9", "急性胃肠炎", (0, 120), 6, "summer",
            ("smectite", "omeprazole"), ("cbc",), "abd_us", False, True),
    AcuteDx("K29.7", "慢性胃炎", (18, 120), 8, "none", ("omeprazole",), (), "abd_us", False, False),
    AcuteDx("M54.5", "腰痛", (18, 120), 8, "none", ("ibuprofen", "diclofenac_gel"), (), None,
            False, False),
    AcuteDx("M17.9", "膝关节病", (45, 120), 6, "none", ("diclofenac_gel", "ibuprofen"), (), None,
            False, False),
    AcuteDx("R51", "头痛", (10, 120), 4, "none", ("ibuprofen",), (), None, False, False),
    AcuteDx("L30.9", "皮炎", (0, 120), 5, "summer", ("loratadine",), (), None, False, False),
    AcuteDx("H10.9", "结膜炎", (0, 120), 3, "spring", ("loratadine",), (), None, False, False),
)  # fmt: skip

NOTIFIABLE_DRUGS = {
    "influenza": ("oseltamivir",),
    "hfmd": ("paracetamol",),
    "diarrhoea": ("smectite",),
    "hepatitis_b": ("entecavir",),
    "scarlet_fever": ("amoxicillin",),
}
