"""The repository: the one place that knows how items, their hashes and
features, and the log of checks are stored.

An item's hashes live in ``item_hashes`` rows, or, for a bulk-imported entry,
inline on its ``items`` row (:mod:`app.repository.hashes`); its local features
in ``item_features`` (:mod:`app.repository.features`). Use cases read and write
through these modules and own the transaction: nothing here commits.
"""
