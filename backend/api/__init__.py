"""HTTP shape only: paths, status codes, schemas in and out."""
