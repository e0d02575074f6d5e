"""The demo's views, one module per lesson; ``demo_site/shop/cases.py`` lists them all."""
