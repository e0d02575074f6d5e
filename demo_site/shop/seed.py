"""Deterministic demo rows, shared by the data migration and ``manage.py demo_seed``.

It takes the model classes as arguments so the migration can pass its historical models.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["CATEGORIES", "DEFAULT_PRODUCTS", "populate"]

CATEGORIES = ("Books", "Coffee", "Garden", "Music")
_ADJECTIVES = ("Blue", "Quiet", "Spare", "Grand", "Tiny", "Lucky")
_NOUNS = ("Kettle", "Lantern", "Notebook", "Teapot", "Trowel", "Vinyl")
DEFAULT_PRODUCTS = 24
REVIEWS_PER_PRODUCT = 3


def populate(
    category_model: Any, product_model: Any, review_model: Any, products: int = DEFAULT_PRODUCTS
) -> int:
    """Create the rows that are missing (idempotent); return how many products exist."""
    categories = [category_model.objects.get_or_create(name=name)[0] for name in CATEGORIES]
    for i in range(products):
        name = f"{_ADJECTIVES[i % len(_ADJECTIVES)]} {_NOUNS[(i // 2) % len(_NOUNS)]} {i + 1}"
        product, created = product_model.objects.get_or_create(
            sku=f"SKU-{i + 1:04d}",
            defaults={
                "name": name,
                "category": categories[i % len(categories)],
                "price": Decimal(5 + (i * 37) % 95) + Decimal("0.99"),
            },
        )
        if created:
            review_model.objects.bulk_create(
                review_model(product=product, rating=1 + (i + r) % 5, text=f"Review {r + 1}")
                for r in range(REVIEWS_PER_PRODUCT)
            )
    return int(product_model.objects.count())
