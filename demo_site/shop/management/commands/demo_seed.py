"""``manage.py demo_seed [--products N] [--reset]``: (re)create the demo rows."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from demo_site.shop.models import Category, Product, Review
from demo_site.shop.seed import DEFAULT_PRODUCTS, populate


class Command(BaseCommand):
    help = "Create the demo shop's categories, products and reviews (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--products",
            type=int,
            default=DEFAULT_PRODUCTS,
            help=f"how many products to have (default {DEFAULT_PRODUCTS})",
        )
        parser.add_argument("--reset", action="store_true", help="delete every demo row first")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            if options["reset"]:
                Category.objects.all().delete()  # cascades to products and reviews
            total = populate(Category, Product, Review, products=options["products"])
        self.stdout.write(self.style.SUCCESS(f"{total} products, {Review.objects.count()} reviews"))
