"""A tiny catalogue: enough rows for the DB-only views and an N+1 loop.

The managers are declared explicitly (they are Django's defaults) so mypy knows them even
when its Django plugin runs with settings that do not install this app.
"""

from __future__ import annotations

from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)

    objects: models.Manager[Category] = models.Manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=8, decimal_places=2)

    objects: models.Manager[Product] = models.Manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Review(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)

    product_id: int
    objects: models.Manager[Review] = models.Manager()

    def __str__(self) -> str:
        return f"{self.product_id}: {self.rating}/5"
