"""A project built on Latchkey, as docs/extending.md builds it: Latchkey's settings and routes
plus its own notes app, run by `pytest --ds=tests.extending.settings tests/extending`."""
