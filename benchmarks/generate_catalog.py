"""Generate realistic, reproducible product catalogs for benchmarks and examples.

The same ``--seed`` always gives the same catalog, byte for byte, in every format, and
the first ``k`` products of a catalog of ``n`` are the catalog of ``k``. Products are
generated one at a time and written as they come, so a catalog of millions of rows
needs no more memory than one of ten (the JSON array is written incrementally too).

Every product validates with :class:`shopsync.domain.models.Product` (docs/platform-api.md §2):
SKUs are unique, prices are decimal strings with two places, images are 1-4 https URLs,
barcodes are EAN-13 with a correct check digit. Titles, categories and attribute values
are a mix of Chinese and English; some descriptions hold commas, double quotes and line
breaks so that CSV quoting is exercised.

As a library::

    from generate_catalog import iter_products

    for product in iter_products(1000, seed=42):
        ...

As a script::

    python benchmarks/generate_catalog.py --rows 1000000 --seed 1 --format csv -o big.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

CSV_COLUMNS: tuple[str, ...] = (
    "sku",
    "title",
    "price",
    "currency",
    "stock",
    "images",
    "description",
    "category",
    "brand",
    "barcode",
    "weight_kg",
    "attr:colour",
    "attr:size",
)
"""The CSV header, in order. ``attr:NAME`` columns become the product's attributes."""

ATTRIBUTE_NAMES: tuple[str, ...] = ("colour", "size")
"""The attribute names a generated product may carry."""

FORMATS: tuple[str, ...] = ("csv", "json", "jsonl")
"""The output formats the script writes."""

IMAGE_SEPARATOR = "|"
"""How several image URLs share one CSV cell."""


@dataclass(frozen=True)
class _Colour:
    code: str
    en: str
    zh: str


@dataclass(frozen=True)
class _Kind:
    """One kind of product: names in both languages, and the ranges its values come from."""

    code: str
    department: str
    en: str
    zh: str
    en_category: str
    zh_category: str
    en_variants: tuple[str, ...]
    zh_variants: tuple[str, ...]
    price_yuan: tuple[int, int]
    weight_g: tuple[int, int]
    colours: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()


_COLOURS: dict[str, _Colour] = {
    colour.code: colour
    for colour in (
        _Colour("BLK", "Black", "黑色"),
        _Colour("WHT", "White", "白色"),
        _Colour("NVY", "Navy", "藏青色"),
        _Colour("GRY", "Grey", "灰色"),
        _Colour("RED", "Red", "红色"),
        _Colour("SGE", "Sage Green", "鼠尾草绿"),
        _Colour("SND", "Sand", "沙色"),
        _Colour("BLU", "Haze Blue", "雾霾蓝"),
        _Colour("PNK", "Blush Pink", "樱花粉"),
        _Colour("SLV", "Silver", "银色"),
    )
}

_ELECTRONIC_COLOURS = ("BLK", "WHT", "SLV", "BLU")
_TEXTILE_COLOURS = ("BLK", "WHT", "NVY", "GRY", "RED", "SGE", "SND", "PNK")
_CLOTHING_SIZES = ("S", "M", "L", "XL", "XXL")
_SHOE_SIZES = ("36", "37", "38", "39", "40", "41", "42", "43", "44", "45")

_KINDS: tuple[_Kind, ...] = (
    _Kind(
        "EAR", "electronics", "Wireless Bluetooth Earbuds", "无线蓝牙耳机",
        "Electronics > Audio", "数码 > 耳机",
        ("Noise Cancelling", "Sport Edition", "Pro", "Lite"),
        ("降噪版", "运动版", "Pro", "青春版"),
        (99, 1299), (40, 120), _ELECTRONIC_COLOURS,
    ),
    _Kind(
        "PHN", "electronics", "5G Smartphone", "5G智能手机",
        "Electronics > Phones", "数码 > 手机",
        ("8GB+256GB", "12GB+256GB", "12GB+512GB", "16GB+1TB"),
        ("8GB+256GB", "12GB+256GB", "12GB+512GB", "16GB+1TB"),
        (1499, 7999), (180, 230), _ELECTRONIC_COLOURS,
    ),
    _Kind(
        "PWB", "electronics", "Power Bank 20000mAh", "移动电源 20000mAh",
        "Electronics > Accessories", "数码 > 配件",
        ("22.5W Fast Charge", "PD 65W", "Slim", "with Built-in Cable"),
        ("22.5W快充", "PD 65W", "轻薄款", "自带线"),
        (79, 399), (300, 450), _ELECTRONIC_COLOURS,
    ),
    _Kind(
        "CBL", "electronics", "USB-C Fast Charging Cable", "USB-C 快充数据线",
        "Electronics > Accessories", "数码 > 配件",
        ("1m", "2m", "2-Pack 1.5m", "Braided 1m"),
        ("1米", "2米", "1.5米 两条装", "编织款 1米"),
        (15, 89), (30, 90), ("BLK", "WHT"),
    ),
    _Kind(
        "WCH", "electronics", "Smart Watch", "智能手表",
        "Electronics > Wearables", "数码 > 智能穿戴",
        ("GPS 46mm", "GPS 42mm", "eSIM 46mm", "Kids Edition"),
        ("GPS版 46mm", "GPS版 42mm", "eSIM版 46mm", "儿童版"),
        (299, 2999), (40, 70), _ELECTRONIC_COLOURS,
    ),
    _Kind(
        "KBD", "electronics", "Mechanical Keyboard", "机械键盘",
        "Electronics > Computer Peripherals", "数码 > 电脑外设",
        ("87 Keys, Red Switches", "104 Keys, Brown Switches", "Wireless 75%", "Hot-Swappable"),
        ("87键 红轴", "104键 茶轴", "三模无线 75%", "热插拔"),
        (149, 1299), (700, 1200), ("BLK", "WHT", "GRY"),
    ),
    _Kind(
        "BTL", "home", "Stainless Steel Water Bottle", "不锈钢保温杯",
        "Home & Kitchen > Drinkware", "家居厨房 > 水杯",
        ("500ml", "750ml", "1L", "350ml Kids"),
        ("500ml", "750ml", "1L 大容量", "350ml 儿童款"),
        (39, 259), (250, 520), _TEXTILE_COLOURS,
    ),
    _Kind(
        "PAN", "home", "Non-Stick Frying Pan", "不粘炒锅",
        "Home & Kitchen > Cookware", "家居厨房 > 锅具",
        ("24cm", "28cm", "32cm with Lid", "Induction Ready 30cm"),
        ("24cm", "28cm", "32cm 带盖", "电磁炉通用 30cm"),
        (69, 699), (900, 2100), ("BLK", "GRY", "SND"),
    ),
    _Kind(
        "BED", "home", "Cotton Bed Sheet Set", "纯棉四件套",
        "Home & Kitchen > Bedding", "家居厨房 > 床品",
        ("400 Thread Count", "Washed Cotton", "Sateen", "Jersey Knit"),
        ("60支长绒棉", "水洗棉", "贡缎", "针织棉"),
        (129, 1299), (1500, 2800), _TEXTILE_COLOURS, ("1.5m", "1.8m", "2.0m"),
    ),
    _Kind(
        "LMP", "home", "LED Desk Lamp", "LED护眼台灯",
        "Home & Kitchen > Lighting", "家居厨房 > 灯具",
        ("Dimmable", "with Wireless Charger", "Clip-On", "Architect Arm"),
        ("无极调光", "带无线充", "夹式", "摇臂款"),
        (59, 599), (600, 1800), ("BLK", "WHT", "SLV"),
    ),
    _Kind(
        "BOX", "home", "Foldable Storage Box", "可折叠收纳箱",
        "Home & Kitchen > Storage", "家居厨房 > 收纳",
        ("3-Pack", "Large 66L", "with Lid", "Fabric"),
        ("三只装", "大号 66L", "带盖", "布艺款"),
        (19, 199), (400, 2500), ("GRY", "SND", "WHT", "BLU"),
    ),
    _Kind(
        "TSH", "clothing", "Men's Cotton Crew Neck T-Shirt", "纯棉短袖T恤 男款",
        "Clothing > Tops", "服装 > 上衣",
        ("Regular Fit", "Oversized", "2-Pack", "Heavyweight 240g"),
        ("常规版型", "宽松落肩", "两件装", "240g重磅"),
        (39, 299), (180, 320), _TEXTILE_COLOURS, _CLOTHING_SIZES,
    ),
    _Kind(
        "JKT", "clothing", "Lightweight Down Jacket", "轻薄羽绒服",
        "Clothing > Outerwear", "服装 > 外套",
        ("Women's", "Men's", "Hooded", "90% White Duck Down"),
        ("女款", "男款", "连帽款", "90%白鸭绒"),
        (299, 1999), (350, 800), _TEXTILE_COLOURS, _CLOTHING_SIZES,
    ),
    _Kind(
        "SHO", "clothing", "Breathable Running Shoes", "透气跑步鞋",
        "Clothing > Shoes", "服装 > 鞋靴",
        ("Men's", "Women's", "Trail", "Carbon Plate"),
        ("男款", "女款", "越野款", "碳板竞速"),
        (199, 1599), (500, 900), _TEXTILE_COLOURS, _SHOE_SIZES,
    ),
    _Kind(
        "JNS", "clothing", "Slim Fit Stretch Jeans", "修身弹力牛仔裤",
        "Clothing > Bottoms", "服装 > 裤装",
        ("Straight Leg", "Tapered", "Ankle Length", "Raw Denim"),
        ("直筒", "锥形", "九分", "原色牛仔"),
        (99, 899), (450, 750), ("NVY", "BLK", "GRY", "BLU"), _CLOTHING_SIZES,
    ),
    _Kind(
        "CRM", "beauty", "Hyaluronic Acid Moisturiser 50ml", "玻尿酸保湿面霜 50g",
        "Beauty > Skin Care", "美妆个护 > 护肤",
        ("for Dry Skin", "Fragrance Free", "Night Cream", "SPF 30"),
        ("干皮适用", "无香精", "晚霜", "SPF30 日霜"),
        (59, 899), (90, 200),
    ),
    _Kind(
        "TBR", "beauty", "Sonic Electric Toothbrush", "声波电动牙刷",
        "Beauty > Oral Care", "美妆个护 > 口腔护理",
        ("with 4 Brush Heads", "Travel Case Edition", "Kids", "Pressure Sensor"),
        ("配4支刷头", "旅行盒套装", "儿童款", "压力感应"),
        (99, 999), (120, 300), ("WHT", "BLK", "PNK", "BLU"),
    ),
    _Kind(
        "COF", "food", "Arabica Coffee Beans 1kg", "云南小粒咖啡豆 500g",
        "Food & Drink > Coffee", "食品饮料 > 咖啡",
        ("Medium Roast", "Dark Roast", "Espresso Blend", "Single Origin"),
        ("中度烘焙", "深度烘焙", "意式拼配", "单一产区"),
        (49, 399), (520, 1080),
    ),
    _Kind(
        "TEA", "food", "Loose Leaf Green Tea 250g", "明前龙井绿茶 250g",
        "Food & Drink > Tea", "食品饮料 > 茶叶",
        ("Gift Box", "Premium Grade", "Tin", "Spring Harvest"),
        ("礼盒装", "特级", "罐装", "明前头采"),
        (68, 1288), (280, 900),
    ),
    _Kind(
        "NUT", "food", "Mixed Nuts Daily Pack x30", "每日坚果 30袋装",
        "Food & Drink > Snacks", "食品饮料 > 零食",
        ("Unsalted", "with Dried Fruit", "Family Size", "Office Snack Box"),
        ("原味无盐", "混合果干", "家庭装", "办公室零食礼盒"),
        (39, 199), (750, 1200),
    ),
    _Kind(
        "YGM", "sports", "Non-Slip Yoga Mat", "加厚防滑瑜伽垫",
        "Sports & Outdoors > Fitness", "运动户外 > 健身",
        ("6mm TPE", "10mm NBR", "Natural Rubber 4mm", "Extra Wide"),
        ("6mm TPE", "10mm NBR", "天然橡胶 4mm", "加宽款"),
        (49, 599), (900, 2500), ("PNK", "BLU", "SGE", "GRY", "BLK"),
    ),
    _Kind(
        "TNT", "sports", "Camping Tent for 4 People", "户外露营帐篷 3-4人",
        "Sports & Outdoors > Camping", "运动户外 > 露营",
        ("Instant Pop-Up", "Waterproof 3000mm", "Ultralight", "with Vestibule"),
        ("速开免搭", "防暴雨3000mm", "超轻款", "带前厅"),
        (199, 2599), (1800, 4800), ("SGE", "SND", "GRY"),
    ),
    _Kind(
        "BLK", "toys", "Building Blocks Set 1000 Pieces", "益智拼装积木 1000颗粒",
        "Toys & Baby > Building Toys", "母婴玩具 > 积木",
        ("City Series", "Space Station", "Classic Bricks", "Age 6+"),
        ("城市系列", "太空站", "经典大颗粒", "6岁以上"),
        (59, 899), (600, 2200),
    ),
    _Kind(
        "BKS", "toys", "Children's Picture Book Set (10 Books)", "儿童绘本 套装10册",
        "Toys & Baby > Books", "母婴玩具 > 绘本",
        ("Bilingual", "Hardcover", "Bedtime Stories", "Ages 3-6"),
        ("中英双语", "精装", "睡前故事", "3-6岁"),
        (39, 299), (800, 1600),
    ),
)  # fmt: skip

_BRANDS: dict[str, tuple[str, ...]] = {
    "electronics": ("Lumio", "声悦", "Voltix", "极客派", "Nordwave", "小熊猫科技"),
    "home": ("青木家居", "Hearthly", "Oakridge", "简一", "Casa Linna"),
    "clothing": ("Kestrel", "森野", "Urban Loom", "北纬三十", "Fieldnote"),
    "beauty": ("Aurelle", "水漾", "Petalis", "清研"),
    "food": ("山间茶舍", "Bean & Co.", "坚果时光", "Highland Roast", "云岭"),
    "sports": ("Trailpeak", "悦动", "Summit Gear", "野径"),
    "toys": ("童趣岛", "Brickle", "Little Owl", "小太阳"),
}

_FEATURES_EN: dict[str, tuple[str, ...]] = {
    "electronics": (
        "30-hour battery life",
        "Bluetooth 5.3 with multipoint pairing",
        "USB-C fast charging",
        "IPX5 water resistance",
        "2-year warranty",
        "low-latency gaming mode",
    ),
    "home": (
        "BPA-free materials",
        "dishwasher safe",
        "food-grade 304 stainless steel",
        "easy to clean",
        "fits most kitchens and desks",
        "30-day hassle-free returns",
    ),
    "clothing": (
        "100% combed cotton",
        "pre-shrunk fabric",
        "machine washable at 30°C",
        "reinforced seams",
        "true to size",
        "breathable mesh lining",
    ),
    "beauty": (
        "dermatologist tested",
        "suitable for sensitive skin",
        "cruelty free",
        "absorbs quickly",
        "no parabens",
        "recyclable packaging",
    ),
    "food": (
        "roasted in small batches",
        "best before 12 months from production",
        "resealable bag",
        "no added sugar",
        "sourced from Yunnan highlands",
        "store in a cool, dry place",
    ),
    "sports": (
        "lightweight and packable",
        "non-slip texture",
        "carry bag included",
        "tested from -10°C to 40°C",
        "UV-resistant coating",
        "1-year warranty",
    ),
    "toys": (
        "non-toxic ABS plastic",
        "rounded edges for small hands",
        "illustrated instructions",
        "compatible with major brick brands",
        "CCC certified",
        "gift-ready box",
    ),
}

_FEATURES_ZH: dict[str, tuple[str, ...]] = {
    "electronics": ("续航30小时", "蓝牙5.3 双设备连接", "Type-C 快充", "IPX5 防水", "全国联保两年"),
    "home": ("食品级304不锈钢", "可洗碗机清洗", "无BPA", "易清洁", "7天无理由退换"),
    "clothing": ("精梳棉面料", "预缩处理不易变形", "可机洗", "加固走线", "尺码标准"),
    "beauty": ("敏感肌可用", "无酒精无香精", "质地清爽易吸收", "经皮肤科测试", "可回收包装"),
    "food": ("小批量新鲜烘焙", "保质期12个月", "独立小包装", "无添加蔗糖", "产地直发"),
    "sports": ("轻量便携", "防滑纹理", "附赠收纳袋", "抗紫外线涂层", "一年质保"),
    "toys": ("环保ABS材质", "圆角设计不伤手", "附图文说明书", "兼容主流积木", "3C认证"),
}

_IMAGE_HOSTS: tuple[str, ...] = (
    "https://img.example.com/products",
    "https://cdn.example.net/catalog/images",
    "https://static.shop.example/media",
)
_IMAGE_EXTENSIONS: tuple[str, ...] = ("jpg", "jpg", "jpg", "webp", "png")

_FOREIGN_CURRENCIES: dict[str, int] = {"USD": 720, "EUR": 780, "HKD": 92}
"""Rough CNY cents per unit, for plausible prices in other currencies."""

_EAN_MULTIPLIER = 3_816_547_291
"""Odd and not a multiple of 5, so ``i -> i * m mod 10**10`` is a bijection: unique codes."""


def ean13_check_digit(first12: str) -> str:
    """Return the EAN-13 check digit for a string of 12 digits."""
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError(f"expected 12 digits, got {first12!r}")
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(first12))
    return str((10 - total % 10) % 10)


def _price(rng: random.Random, kind: _Kind, currency: str) -> str:
    low, high = kind.price_yuan
    yuan = rng.randint(low, high)
    if currency != "CNY":
        units = max(1, round(yuan * 100 / _FOREIGN_CURRENCIES[currency]))
        return f"{units - 1}.99" if units > 1 else "0.99"
    if yuan >= 1000:
        # Big tickets end in round numbers: 3999.00, 1299.00, 2500.00.
        yuan = yuan // 100 * 100 + rng.choice((99, 99, 0, 49))
        return f"{max(yuan, low)}.00"
    cents = rng.choice((0, 0, 0, 90, 90, 99, 50, 80))
    return f"{yuan}.{cents:02d}"


def _weight(rng: random.Random, kind: _Kind) -> str:
    low, high = kind.weight_g
    grams = rng.randint(low, high) // 5 * 5 or 5
    return f"{grams // 1000}.{grams % 1000:03d}".rstrip("0").rstrip(".")


def _stock(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.08:
        return 0
    if roll < 0.3:
        return rng.randint(1, 20)
    return rng.randint(21, 500)


_DESCRIPTIONS_ZH: tuple[str, ...] = (
    "{brand}{item}（{variant}），{f0}，{f1}，{f2}。",
    # ASCII commas and quotes inside Chinese text, as sellers paste them.
    '{item} "{variant}" 款, {f0}, {f1}. 下单备注"急发"可优先发货.',
    "【{brand}官方旗舰】{item}\n{f0}\n{f1}\n{f2}",
    "{f0}，{f1}。",
)
_DESCRIPTIONS_EN: tuple[str, ...] = (
    "{item} by {brand}: {f0}, {f1}, and {f2}.",
    'Rated "excellent" by {buyers}+ buyers. {F0}, {f1}.',
    'Package includes: 1 x {item} ({variant}), 1 x user manual, 1 x "thank you" card.',
    "{F0}.\n{F1}.\n{F2}.",
    "{F0}; {f1}.",
)


def _description(rng: random.Random, kind: _Kind, brand: str, chinese: bool, variant: str) -> str:
    pool = _FEATURES_ZH if chinese else _FEATURES_EN
    f0, f1, f2 = rng.sample(pool[kind.department], 3)
    template = rng.choice(_DESCRIPTIONS_ZH if chinese else _DESCRIPTIONS_EN)
    buyers = f"{rng.randint(1, 9)},{rng.randint(0, 999):03d}"
    return template.format(
        brand=brand,
        item=kind.zh if chinese else kind.en,
        variant=variant,
        buyers=buyers,
        f0=f0,
        f1=f1,
        f2=f2,
        F0=f0[:1].upper() + f0[1:],
        F1=f1[:1].upper() + f1[1:],
        F2=f2[:1].upper() + f2[1:],
    )


def _images(rng: random.Random, sku: str) -> list[str]:
    count = rng.choices((1, 2, 3, 4), weights=(3, 4, 2, 1))[0]
    host = rng.choice(_IMAGE_HOSTS)
    extension = rng.choice(_IMAGE_EXTENSIONS)
    folder = sku.lower()
    return [f"{host}/{folder}/{number}.{extension}" for number in range(1, count + 1)]


def _product(rng: random.Random, index: int, ean_offset: int) -> dict[str, Any]:
    kind = rng.choice(_KINDS)
    chinese = rng.random() < 0.55
    brand = rng.choice(_BRANDS[kind.department])
    variant_index = rng.randrange(len(kind.en_variants))
    variant = kind.zh_variants[variant_index] if chinese else kind.en_variants[variant_index]

    attributes: dict[str, str] = {}
    sku = f"{kind.code}-{index + 1:07d}"
    colour_title = ""
    if kind.colours and rng.random() < 0.85:
        colour = _COLOURS[rng.choice(kind.colours)]
        attributes["colour"] = colour.zh if chinese else colour.en
        colour_title = attributes["colour"]
        sku = f"{sku}-{colour.code}"
    if kind.sizes:
        size = rng.choice(kind.sizes)
        attributes["size"] = size
        sku = f"{sku}-{size.replace('.', '')}"

    if chinese:
        title = f"{brand} {kind.zh} {variant}"
        if colour_title:
            title = f"{title} {colour_title}"
    else:
        # One English title in five has a comma, as marketplace titles often do.
        separator = ", " if rng.random() < 0.2 else " "
        title = f"{brand} {kind.en}{separator}{variant}"
        if colour_title:
            title = f"{title} - {colour_title}"

    currency = "CNY" if rng.random() < 0.9 else rng.choice(tuple(_FOREIGN_CURRENCIES))
    item_reference = (index * _EAN_MULTIPLIER + ean_offset) % 10**10
    first12 = f"69{item_reference:010d}"

    return {
        "sku": sku,
        "title": title,
        "price": _price(rng, kind, currency),
        "currency": currency,
        "stock": _stock(rng),
        "images": _images(rng, sku),
        "description": _description(rng, kind, brand, chinese, variant),
        "category": kind.zh_category if chinese else kind.en_category,
        "brand": brand,
        "barcode": first12 + ean13_check_digit(first12),
        "weight_kg": _weight(rng, kind),
        "attributes": attributes,
    }


def iter_products(count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Yield ``count`` products, the same ones for the same ``seed``.

    Each product is a dict in the JSON shape of docs/platform-api.md §2: ``price`` and
    ``weight_kg`` are decimal strings, ``stock`` an int, ``images`` a list of URLs and
    ``attributes`` a dict (possibly empty). ``Product.model_validate(product)`` accepts
    every one. Products are made one at a time; the first ``k`` of ``count`` do not
    depend on ``count``.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    ean_offset = rng.randrange(10**10)
    for index in range(count):
        yield _product(rng, index, ean_offset)


def to_csv_row(product: dict[str, Any]) -> list[str]:
    """Flatten one product from :func:`iter_products` into cells in ``CSV_COLUMNS`` order.

    Images share one cell separated by ``|``; each attribute goes to its ``attr:NAME``
    column, empty when the product does not have it.
    """
    attributes: dict[str, str] = product.get("attributes", {})
    cells: list[str] = []
    for column in CSV_COLUMNS:
        if column.startswith("attr:"):
            cells.append(attributes.get(column.removeprefix("attr:"), ""))
        elif column == "images":
            cells.append(IMAGE_SEPARATOR.join(product.get("images", [])))
        else:
            value = product.get(column)
            cells.append("" if value is None else str(value))
    return cells


def write_csv(products: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write products as CSV (header first, RFC 4180 quoting, ``\\n`` line ends).

    ``out`` should be opened with ``newline=""``. Returns the number of rows written.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for product in products:
        writer.writerow(to_csv_row(product))
        rows += 1
    return rows


def write_json(products: Iterable[dict[str, Any]], out: TextIO, indent: int | None = None) -> int:
    """Write products as one JSON array, object by object, never holding the whole array.

    With ``indent`` ``None`` each object takes one line. Returns the number written.
    """
    rows = 0
    out.write("[")
    for product in products:
        text = json.dumps(product, ensure_ascii=False, indent=indent)
        if indent is not None:
            text = text.replace("\n", "\n" + " " * indent)
            text = " " * indent + text
        out.write(("\n" if rows == 0 else ",\n") + text)
        rows += 1
    out.write("\n]\n" if rows else "]\n")
    return rows


def write_jsonl(products: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write products as JSON Lines, one object per line. Returns the number written."""
    rows = 0
    for product in products:
        out.write(json.dumps(product, ensure_ascii=False) + "\n")
        rows += 1
    return rows


def write_catalog(
    products: Iterable[dict[str, Any]], out: TextIO, fmt: str, indent: int | None = None
) -> int:
    """Write products to ``out`` in ``fmt`` (one of :data:`FORMATS`); return the row count."""
    if fmt == "csv":
        return write_csv(products, out)
    if fmt == "json":
        return write_json(products, out, indent=indent)
    if fmt == "jsonl":
        return write_jsonl(products, out)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate a realistic, reproducible product catalog (UTF-8).",
    )
    parser.add_argument("--rows", type=int, required=True, help="number of products")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from the -o suffix, else csv)",
    )
    parser.add_argument(
        "-o", "--output", default="-", help="file to write, '-' for stdout (default)"
    )
    parser.add_argument(
        "--indent", type=int, default=None, help="JSON only: indent objects by this many spaces"
    )
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must be >= 0")
    if args.format is None:
        suffix = Path(args.output).suffix.lower().lstrip(".")
        args.format = suffix if suffix in FORMATS else "csv"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parse_args(argv)
    products = iter_products(args.rows, args.seed)
    if args.output == "-":
        stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
        try:
            write_catalog(products, stdout, args.format, indent=args.indent)
        finally:
            stdout.flush()
            stdout.detach()
        return 0
    with Path(args.output).open("w", encoding="utf-8", newline="") as out:
        rows = write_catalog(products, out, args.format, indent=args.indent)
    print(f"wrote {rows} products to {args.output} ({args.format})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
