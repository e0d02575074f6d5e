"""The demo's one app: a tiny shop whose views each exhibit an async_audit finding."""
