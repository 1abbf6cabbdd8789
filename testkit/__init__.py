"""Helpers the tests and the benchmarks share: real re-upload edits of photos and
videos, the edit families and their impostors, the photo corpus and its split, and
request bodies as clients send them. Nothing here imports the service (``app``)."""
