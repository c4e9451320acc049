"""HTTP shape only: paths, status codes, schemas in and out."""

API_PREFIX = "/api/v1"
