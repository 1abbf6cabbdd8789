"""In-memory hash indexes: exact Hamming range search over FAISS binary indexes.

The index knows hashes as bytes and owners as integer keys; it never reads a
database. The service rebuilds it from the database on start and keeps it in
step on every change.
"""

from index.binary import BinaryIndex, Hit
from index.exact import ExactIndex
from index.signals import HashIndex

__all__ = ["BinaryIndex", "ExactIndex", "HashIndex", "Hit"]
