"""Demo data: real company names for the named-account list and partners."""
