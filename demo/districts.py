"""The demo sales geography: eight districts in three regions."""

DISTRICTS: list[tuple[str, str, str, str]] = [
    # code, name, region, timezone
    ("northeast", "Northeast", "east", "America/New_York"),
    ("mid_atlantic", "Mid-Atlantic", "east", "America/New_York"),
    ("southeast", "Southeast", "east", "America/New_York"),
    ("great_lakes", "Great Lakes", "central", "America/Chicago"),
    ("south_central", "South Central", "central", "America/Chicago"),
    ("rocky_mountain", "Rocky Mountain", "west", "America/Denver"),
    ("southwest", "Southwest", "west", "America/Los_Angeles"),
    ("northwest", "Northwest", "west", "America/Los_Angeles"),
]
REGIONS = sorted({d[2] for d in DISTRICTS})
