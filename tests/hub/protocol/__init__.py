"""Black-box protocol tests of the add-on (table to follow)."""
