"""Hashwall's HTTP service: a thin FastAPI layer over the hashing and index cores."""
