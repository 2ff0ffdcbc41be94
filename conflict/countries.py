"""ISO 3166-1 alpha-2 country codes, as the pycountry package publishes them."""

from functools import cache

import pycountry


@cache
def country_codes() -> frozenset[str]:
    """Return every officially assigned ISO 3166-1 alpha-2 code."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


def is_country_code(code: str) -> bool:
    """Return True when code is an officially assigned ISO 3166-1 alpha-2 code."""
    return code.upper() in country_codes()
