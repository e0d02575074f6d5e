"""Demo rows, so every page has data right after ``migrate`` (``demo_seed`` adds more)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from demo_site.shop.seed import populate


def seed(apps: Any, schema_editor: Any) -> None:
    populate(
        apps.get_model("shop", "Category"),
        apps.get_model("shop", "Product"),
        apps.get_model("shop", "Review"),
    )


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
