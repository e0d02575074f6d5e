"""A small Django project that exhibits the async_audit findings (see demo_site/README.md)."""
