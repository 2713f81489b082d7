"""Label values of the rectal phantom's label map, the CRM distance and the T2 intensity ranges per label."""

from __future__ import annotations

#: Label values of the phantom's label map.
PELVIS_LABELS: dict[int, str] = {
    0: "air",
    1: "subcutaneous fat",
    2: "muscle",
    3: "bone",
    4: "bladder",
    5: "anterior organ (prostate or vagina)",
    6: "mesorectal fat",
    7: "mesorectal fascia",
    8: "rectal wall",
    9: "rectal lumen",
    10: "tumour",
    11: "mesorectal lymph node",
    12: "pelvic fat outside the mesorectum",
}
AIR, SUBCUT, MUSCLE, BONE, BLADDER, ANTERIOR, MESO_FAT, FASCIA, WALL, LUMEN, TUMOUR, NODE, PELVIC_FAT = range(13)

#: a slice is CRM-positive when tumour lies this close to the fascia (the study's and ESGAR's 1 mm)
CRM_DISTANCE_MM = 1.0
#: one box covers at most this much fascia contact (mm along the fascia); longer contacts get several
_MAX_CONTACT_MM = 25.0

# T2 intensity ranges per label (plain T2; fat-suppressed changes the fat rows), arbitrary units
_T2_RANGES = {
    AIR: (0, 5),
    SUBCUT: (600, 900),
    MUSCLE: (120, 220),
    BONE: (250, 450),
    BLADDER: (900, 1200),
    ANTERIOR: (300, 500),
    MESO_FAT: (550, 850),
    FASCIA: (60, 130),
    WALL: (180, 300),
    LUMEN: (0, 40),
    TUMOUR: (320, 480),
    NODE: (280, 420),
    PELVIC_FAT: (600, 900),
}
_FAT_LABELS = (SUBCUT, MESO_FAT, PELVIC_FAT, BONE)
