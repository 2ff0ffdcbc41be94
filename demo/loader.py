"""Load the demo program: districts, policy, partners, users and the published list."""

import csv
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from demo.districts import DISTRICTS, REGIONS
from models import District, NamedAccountList, Partner, User
from models.partner import COMPETENCIES
from models.policy import active_policy
from web.passwords import hash_password

HERE = Path(__file__).resolve().parent
DEMO_PASSWORD = "channelguard-demo"  # noqa: S105  documented demo password


@dataclass(frozen=True)
class DemoLogin:
    """A documented demo sign-in."""

    role: str
    email: str
    note: str


def _slug(name: str) -> str:
    words = re.sub(r"[^a-z0-9 ]", "", name.lower()).split()
    return "-".join(w for w in words if w not in {"inc", "corp", "corporation", "ltd", "co"})[:30]


def is_empty(sess: Session) -> bool:
    """Return True when the database has no users yet."""
    return sess.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0


def _user(sess: Session, email: str, role: str, name: str, pw: str, **kw: object) -> User:
    user = User(email=email, role=role, name=name, password_hash=pw, **kw)
    sess.add(user)
    return user


def load_people(sess: Session) -> None:
    """Create districts, policy, partners and users."""
    active_policy(sess)
    for code, name, region, tz in DISTRICTS:
        sess.add(District(code=code, name=name, region=region, timezone=tz))
    sess.flush()
    pw = hash_password(DEMO_PASSWORD)
    _user(sess, "admin@example.com", "admin", "Program Operations", pw)
    for code, name, _region, _tz in DISTRICTS:
        _user(
            sess,
            f"reviewer.{code}@example.com",
            "reviewer",
            f"{name} channel manager",
            pw,
            level=1,
            districts=[code],
        )
    for region in REGIONS:
        _user(
            sess,
            f"region.{region}@example.com",
            "reviewer",
            f"{region.title()} region lead",
            pw,
            level=2,
            region=region,
            districts=[d[0] for d in DISTRICTS if d[2] == region],
        )
    _user(sess, "national@example.com", "reviewer", "National channel director", pw, level=3)
    coordinators = [
        _user(
            sess,
            f"coordinator{i}@example.com",
            "reviewer",
            f"Technical coordinator {i}",
            pw,
            level=1,
            districts=[],
        )
        for i in (1, 2)
    ]
    owners = sorted({row["mcs_owner_email"] for row in _accounts_csv()})
    for email in owners:
        first, last = email.split("@")[0].split(".")
        _user(sess, email, "mcs", f"{first.title()} {last.title()} (MCS)", pw)
    sess.flush()
    with (HERE / "partners.csv").open(encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            points = int(row["points"])
            partner = Partner(
                name=row["name"],
                points=points,
                district=row["district"],
                competencies=[COMPETENCIES[(i + k) % len(COMPETENCIES)] for k in range(1 + i % 4)],
                technical_coordinator_id=coordinators[i % 2].id if points >= 120 else None,
            )
            sess.add(partner)
            sess.flush()
            _user(
                sess,
                f"sales@{_slug(row['name'])}.example.com",
                "partner",
                f"{row['name']} sales",
                pw,
                partner_id=partner.id,
            )
    sess.flush()


def demo_logins(sess: Session) -> list[DemoLogin]:
    """Return the documented demo sign-ins that exist in this database."""
    gold = (
        sess.execute(sa.select(Partner).where(Partner.points >= 120).order_by(Partner.id))
        .scalars()
        .first()
    )
    certified = (
        sess.execute(
            sa.select(Partner).where(Partner.points.between(50, 119)).order_by(Partner.id)  # type: ignore[attr-defined]
        )
        .scalars()
        .first()
    )
    mcs = (
        sess.execute(sa.select(User.email).where(User.role == "mcs").order_by(User.email))
        .scalars()
        .first()
    )
    logins = [
        DemoLogin("admin", "admin@example.com", "program operations"),
        DemoLogin("reviewer", "reviewer.northeast@example.com", "level 1, Northeast district"),
        DemoLogin("reviewer", "region.east@example.com", "level 2, East region"),
        DemoLogin("reviewer", "national@example.com", "level 3, national"),
    ]
    if mcs:
        logins.append(DemoLogin("mcs", mcs, "MCS seller and account owner"))
    for partner, note in ((gold, "Gold Certified"), (certified, "Certified")):
        if partner is not None:
            logins.append(
                DemoLogin(
                    "partner",
                    f"sales@{_slug(partner.name)}.example.com",
                    f"{partner.name} ({note})",
                )
            )
    known = set(sess.execute(sa.select(User.email)).scalars())
    return [login for login in logins if login.email in known]


def _accounts_csv() -> list[dict[str, str]]:
    with (HERE / "named_accounts.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_named_accounts(sess: Session, admin_id: int | None) -> NamedAccountList:
    """Publish the demo named-account list (1,000 real companies) through the real import."""
    from conflict.lists import import_list

    today = date.today()
    result = import_list(
        sess,
        (HERE / "named_accounts.csv").read_bytes(),
        actor_id=admin_id,
        label=f"Named accounts H{1 if today.month <= 6 else 2} {today.year}",
        source="demo",
        publish_now=True,
        effective_from=today - timedelta(days=30),
    )
    assert result.version is not None
    return result.version
