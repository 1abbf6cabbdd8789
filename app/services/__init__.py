"""Service functions: the only code that writes to the database and the index."""
