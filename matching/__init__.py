"""Match policy and decisions: from the evidence a query finds in the index to
``block``, ``review`` or ``allow``, with the matched items ranked.

Pure: imports nothing from the web layer, the database or ``app`` (an
import-linter contract keeps it so). The service builds one frozen
:class:`MatchPolicy` from its settings at start; every caller (the check routes,
registration's duplicate check, the benches) searches with :mod:`matching.still`
or :mod:`matching.clip` and decides with :func:`decide`.
"""

from matching.decide import Verdict, best_per_item, combine, decide, holds
from matching.policy import MatchPolicy
from matching.types import Candidate, Category, Coverage, Decision, Evidence, ItemFacts

__all__ = [
    "Candidate",
    "Category",
    "Coverage",
    "Decision",
    "Evidence",
    "ItemFacts",
    "MatchPolicy",
    "Verdict",
    "best_per_item",
    "combine",
    "decide",
    "holds",
]
