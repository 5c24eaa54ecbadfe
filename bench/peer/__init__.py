"""A minimal DRF project for bench/compare.sh: one row behind no auth, drf-api-key and knox."""
