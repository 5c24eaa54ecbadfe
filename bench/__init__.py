"""The API-key authentication benchmark: settings, routes and seed data (see bench/README.md)."""
