"""The fixed world the simulated customers live in: personas, geography, catalogue, calendar.

Numbers here are judgement calls for a mid-sized Chinese beauty and personal-care brand that
sells through its own online store, an app, a WeChat mini-program and offline stores. They
are named and commented so an analyst can see why the data looks the way it does.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from orchestration.settings import PROJECT_DIR

CHANNELS = ("offline_store", "online_store", "app", "mini_program")
# The digital platform a channel's browsing happens on, and the identifier it is seen under.
PLATFORM_OF_CHANNEL = {"online_store": "web", "app": "app", "mini_program": "mini_program"}

CATEGORIES = (
    # (raw label as the shop system exports it, typical unit price in CNY)
    ("面部护理", 280.0),
    ("彩妆", 180.0),
    ("身体护理", 90.0),
    ("香水", 450.0),
    ("个人洗护", 70.0),
    ("母婴", 160.0),
    ("保健食品", 220.0),
    ("家居", 120.0),
)
BRANDS = (
    "澜雅", "沐光", "初研", "素颜记", "花间集", "青禾", "悦木", "云裳",
    "漫野", "栖山", "小森林", "白鹿", "暖阳", "星屿", "拾光", "本味",
)  # fmt: skip
SKUS_PER_BRAND = 6
BRANDS_PER_CATEGORY = 3

# Latent personas. Behaviour is driven by the continuous traits below, blended for people
# who sit between two personas, so personas overlap rather than separate cleanly.
PERSONAS = (
    "high_value_loyal",
    "price_sensitive",
    "quality_seeker",
    "social_sharer",
    "occasional",
    "new_customer",
    "dormant",
)
PERSONA_SHARE = np.array([0.10, 0.22, 0.12, 0.10, 0.26, 0.08, 0.12])


@dataclass(frozen=True)
class PersonaTraits:
    purchases_per_year: float  # mean of a gamma-distributed personal rate
    sessions_per_week: float  # browsing intensity while active
    price_sensitivity: float  # 0..1: coupon use, reaction to price rises
    quality: float  # 0..1: where in a category's price range they buy
    social: float  # 0..1: shares and comments
    daily_lapse_hazard: float  # baseline hazard of lapsing for good, per day
    campaign_lift: float  # multiplier on purchase rate for 14 days after a treated send
    channel_mix: tuple[float, float, float, float]  # over CHANNELS
    category_mix: tuple[float, ...]  # over CATEGORIES
    birth_year: tuple[int, int]  # mean and spread
    nps_shift: float  # how much happier than average this persona is


PERSONA_TRAITS: dict[str, PersonaTraits] = {
    "high_value_loyal": PersonaTraits(
        14.0, 0.65, 0.30, 0.65, 0.25, 1 / 4000, 1.25, (0.25, 0.20, 0.40, 0.15),
        (0.30, 0.15, 0.12, 0.12, 0.10, 0.06, 0.08, 0.07), (1988, 7), 1.5,
    ),
    "price_sensitive": PersonaTraits(
        7.0, 0.60, 0.85, 0.20, 0.30, 1 / 1700, 3.0, (0.10, 0.30, 0.25, 0.35),
        (0.14, 0.12, 0.16, 0.04, 0.24, 0.10, 0.06, 0.14), (1993, 7), -0.5,
    ),
    "quality_seeker": PersonaTraits(
        5.0, 0.36, 0.10, 0.90, 0.15, 1 / 2500, 1.1, (0.45, 0.20, 0.25, 0.10),
        (0.38, 0.12, 0.08, 0.22, 0.05, 0.04, 0.08, 0.03), (1984, 8), 0.5,
    ),
    "social_sharer": PersonaTraits(
        6.0, 0.72, 0.40, 0.45, 0.90, 1 / 2000, 2.0, (0.10, 0.15, 0.25, 0.50),
        (0.18, 0.40, 0.08, 0.12, 0.08, 0.03, 0.04, 0.07), (2000, 4), 0.3,
    ),
    "occasional": PersonaTraits(
        1.5, 0.12, 0.50, 0.40, 0.15, 1 / 1500, 1.8, (0.35, 0.35, 0.10, 0.20),
        (0.16, 0.12, 0.16, 0.06, 0.20, 0.12, 0.08, 0.10), (1987, 10), 0.0,
    ),
    "new_customer": PersonaTraits(
        5.0, 0.95, 0.50, 0.45, 0.35, 1 / 800, 1.8, (0.20, 0.25, 0.25, 0.30),
        (0.22, 0.22, 0.12, 0.08, 0.14, 0.08, 0.06, 0.08), (1997, 6), 0.2,
    ),
    "dormant": PersonaTraits(
        4.0, 0.30, 0.50, 0.40, 0.15, 1 / 90, 1.5, (0.30, 0.30, 0.20, 0.20),
        (0.18, 0.14, 0.14, 0.08, 0.18, 0.10, 0.08, 0.10), (1986, 9), -1.0,
    ),
}  # fmt: skip

# How experience moves the lapse hazard (log scale). Complaints and unanswered tickets decay
# over time; price-sensitive people react to the brand's price rise; people the brand has not
# contacted for a quarter drift away. Churn is learnable from behaviour, not from one column.
HAZARD_PER_COMPLAINT = 0.8
HAZARD_PER_UNANSWERED_TICKET = 0.6
HAZARD_PRICE_RISE = 1.0  # times the person's price sensitivity
HAZARD_NO_CONTACT = 0.4  # after NO_CONTACT_DAYS without a treated campaign send
NO_CONTACT_DAYS = 90
COMPLAINT_DECAY_PER_DAY = 0.98  # half-life of about five weeks
UNANSWERED_DECAY_PER_DAY = 0.995  # half-life of about four months
PRICE_RISE = 0.10  # list prices go up 10% ...
PRICE_RISE_DAYS_BEFORE_END = 300  # ... this many days before the data ends

TICKET_RATE_PER_ORDER = 0.06
COMPLAINT_SHARE_OF_TICKETS = 0.30
UNANSWERED_SHARE_OF_TICKETS = 0.12
SURVEY_RATE_PER_ORDER = 0.05
CAMPAIGN_WINDOW_DAYS = (
    14  # a treated send lifts purchases for this long; also the conversion window
)
LAPSED_BROWSING = 0.08  # people who lapsed still browse a little
FUTURE_DAYS = 90  # the withheld future the truth records

MEMBER_SHARE = 0.82
SECOND_RECORD_SHARE = 0.10  # members with a second CRM record in another source system
CONSENT_SHARE = 0.72
STORE_PHONES = 20  # cashier phones typed in for walk-in customers
STAFF_REGISTERED_WITH_STORE_PHONE = 0.01  # offline sign-ups keyed in with the store phone
FAMILY_DEVICE_SHARE = 0.03  # app users sharing one tablet with another member
RECYCLED_COOKIE_SHARE = 0.03  # web users whose cookie is later reused by a stranger

EMAIL_DOMAINS = (
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "outlook.com",
    "gmail.com",
    "foxmail.com",
)
MEMBER_LEVELS = ((0, "普通会员"), (1000, "银卡会员"), (3000, "金卡会员"), (8000, "钻石会员"))
TICKET_TOPICS = ("logistics", "product_quality", "return_refund", "invoice", "inquiry", "complaint")
COMPLAINT_TOPICS = ("product_quality", "complaint")
TOUCH_CHANNELS = ("sms", "wechat", "email", "app_push")
EVENT_TYPES = (
    "page_view", "product_view", "search", "add_to_cart", "favourite", "share", "comment",
    "coupon_claim",
)  # fmt: skip
PRODUCT_EVENT_TYPES = ("product_view", "add_to_cart", "favourite", "share", "comment")
SESSION_HOURS = np.array([8, 12, 15, 20, 22, 23])  # the peak hour a person tends to shop at

# Chinese New Year's day: logistics stop and shopping dips around it.
SPRING_FESTIVAL = {
    2019: date(2019, 2, 5), 2020: date(2020, 1, 25), 2021: date(2021, 2, 12),
    2022: date(2022, 2, 1), 2023: date(2023, 1, 22), 2024: date(2024, 2, 10),
    2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6),
    2028: date(2028, 1, 26), 2029: date(2029, 2, 13), 2030: date(2030, 2, 3),
}  # fmt: skip


def shopping_calendar(start: date, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily multipliers on purchase and browsing, and a promotion-day flag.

    Weekly rhythm, Women's Day (3.8), 520, 618, Double-11 with its pre-sale, Double-12, and the
    Spring Festival dip (gift buying before it). Purchase multipliers average 1 over the span,
    so a person's `purchases_per_year` stays their mean rate.
    """
    weekday = np.array([0.92, 0.90, 0.95, 1.0, 1.08, 1.15, 1.1])
    purchase = np.ones(days)
    promotion = np.zeros(days, dtype=bool)
    for i in range(days):
        day = start + timedelta(days=i)
        m = weekday[day.weekday()]
        md = (day.month, day.day)
        if md == (6, 18):
            m *= 3.5
        elif (6, 1) <= md <= (6, 17):
            m *= 1.35
        if md == (11, 11):
            m *= 5.0
        elif (10, 20) <= md <= (11, 10):
            m *= 1.3
        elif md == (11, 12):
            m *= 1.5
        if md == (12, 12):
            m *= 2.0
        if md in ((3, 7), (3, 8)):
            m *= 2.0
        if md == (5, 20):
            m *= 1.4
        festival = SPRING_FESTIVAL.get(day.year)
        if festival is not None:
            offset = (day - festival).days
            if -14 <= offset <= -8:
                m *= 1.2
            elif -7 <= offset <= 7:
                m *= 0.45
        purchase[i] = m
        promotion[i] = md in ((6, 18), (11, 11), (12, 12), (3, 8))
    purchase /= purchase.mean()
    browse = 1.0 + 0.6 * (purchase - 1.0)  # browsing peaks less sharply than buying
    return purchase, browse, promotion


@dataclass(frozen=True)
class Cities:
    name_zh: np.ndarray
    name_en: np.ndarray
    province_zh: np.ndarray
    province_en: np.ndarray
    tier: np.ndarray
    weight: np.ndarray  # sampling probability


def load_cities(path: Path | None = None) -> Cities:
    """The city list is the same seed the warehouse uses to normalise city names."""
    path = path or PROJECT_DIR / "seeds" / "cn_cities.csv"
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    weight = np.array([float(r["population_weight"]) for r in rows])
    return Cities(
        name_zh=np.array([r["city_name_zh"] for r in rows], dtype=object),
        name_en=np.array([r["city_name_en"] for r in rows], dtype=object),
        province_zh=np.array([r["province_name_zh"] for r in rows], dtype=object),
        province_en=np.array([r["province_name_en"] for r in rows], dtype=object),
        tier=np.array([r["city_tier"] for r in rows], dtype=object),
        weight=weight / weight.sum(),
    )


@dataclass(frozen=True)
class Catalogue:
    """SKUs per category, sorted by price so a quality trait maps to a position in the range."""

    sku: np.ndarray
    category: np.ndarray  # index into CATEGORIES
    brand: np.ndarray
    price: np.ndarray
    first_sku_of_category: np.ndarray  # offsets: category c owns [first[c], first[c+1])


def build_catalogue(rng: np.random.Generator) -> Catalogue:
    skus, cats, brands, prices = [], [], [], []
    first = [0]
    for c, (_, base_price) in enumerate(CATEGORIES):
        cat_brands = rng.choice(BRANDS, size=BRANDS_PER_CATEGORY, replace=False)
        n = BRANDS_PER_CATEGORY * SKUS_PER_BRAND
        # Long-tailed list prices: most items near the category norm, a few premium lines.
        price = np.round(base_price * rng.lognormal(0.0, 0.55, size=n), 0) + 0.9
        order = np.argsort(price)
        for j, k in enumerate(order):
            skus.append(f"SKU{c + 1:02d}{j + 1:03d}")
            cats.append(c)
            brands.append(cat_brands[k // SKUS_PER_BRAND])
            prices.append(price[k])
        first.append(len(skus))
    return Catalogue(
        sku=np.array(skus, dtype=object),
        category=np.array(cats),
        brand=np.array(brands, dtype=object),
        price=np.array(prices),
        first_sku_of_category=np.array(first),
    )


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    send_day: int  # day index from the data start
    target_share: float  # share of consenting members picked for the campaign
    control_share: float  # share of those held out as control


def plan_campaigns(start: date, days: int) -> list[Campaign]:
    """Campaigns around the retail calendar: 3.8, 520, 618, a summer win-back, 11.11, 12.12."""
    plan = ((3, 1, "women_day"), (5, 12, "520"), (6, 8, "618"), (8, 15, "winback"),
            (10, 25, "double11"), (12, 5, "double12"))  # fmt: skip
    campaigns = []
    for year in range(start.year, (start + timedelta(days=days)).year + 1):
        for month, day, name in plan:
            send = date(year, month, day)
            offset = (send - start).days
            if 0 <= offset < days - CAMPAIGN_WINDOW_DAYS:
                campaigns.append(Campaign(f"CMP{year}{month:02d}_{name}", offset, 0.35, 0.2))
    return campaigns
