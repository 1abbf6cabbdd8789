"""Hash lists: bulk import from and export to the files hash-sharing partners use."""
