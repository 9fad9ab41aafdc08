"""The I/O steps of a case: the case store and deadline computation."""
