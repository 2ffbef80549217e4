"""The document tagging model service (see ../README.md)."""
