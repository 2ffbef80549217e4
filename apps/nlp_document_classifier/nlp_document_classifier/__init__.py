"""The NLP document classifier web app (see ../../README.md)."""
