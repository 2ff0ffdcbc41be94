"""The dashboard: aggregates, inline SVG charts with tables, and CSV downloads."""

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from escalation import dashboard
from models import utcnow
from models.db import db
from tests.factories import (
    login,
    make_district,
    make_partner,
    make_registration,
    make_ticket,
    make_user,
)


def _setup(app: Flask) -> dict[str, str]:
    with app.app_context():
        make_district("northeast", "east")
        make_district("pacific", "west")
        now = utcnow()
        gold = make_user("partner", partner_id=make_partner("Gold", points=150).id)
        cert = make_user("partner", partner_id=make_partner("Cert", points=60).id)
        mcs = make_user("mcs")
        regs = [
            make_registration(gold, infrastructure_maturity="dynamic", district="northeast"),
            make_registration(gold, infrastructure_maturity="basic", district="pacific"),
            make_registration(cert, district="northeast"),
            make_registration(mcs, district="northeast", submitted_at=now - timedelta(days=8)),
        ]
        make_ticket(regs[0], district="northeast")
        make_ticket(regs[1], district="pacific", type="exception", rule="DOTNET_EXCEPTION")
        make_ticket(regs[2], district="northeast", rule="PARTNER_OVERLAP", breached=True, level=3)
        for i, resolution in enumerate(["partner_leads", "mcs_leads", "partner_leads"]):
            make_ticket(
                regs[3],
                rule=f"DONE{i}",
                status="decided",
                resolution=resolution,
                rationale="Decided for the record.",
                opened_at=now - timedelta(hours=30 + i * 10),
                decided_at=now - timedelta(hours=2),
            )
        users = {
            "reviewer": make_user("reviewer").email,
            "admin": make_user("admin").email,
            "partner": gold.email,
        }
        db.session.commit()
    return users


def test_dashboard_renders_every_chart_with_numbers(app: Flask, client: FlaskClient) -> None:
    users = _setup(app)
    login(client, users["reviewer"])
    resp = client.get("/dashboard")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count("<svg") == len(dashboard.CHART_KEYS)
    assert "<script" not in html and 'style="' not in html  # the CSP allows neither
    for key in dashboard.CHART_KEYS:
        assert f"/dashboard.csv?chart={key}" in html
    assert "2 open conflicts, 1 open exceptions." in html
    assert "1 of 6 tickets opened in the period breached (16.7%)." in html
    assert "3 decisions in the period." in html
    assert "Gold Certified" in html and "MCS (direct)" in html
    assert "Dynamic" in html and "Not recorded" in html


def test_chart_numbers(app: Flask) -> None:
    _setup(app)
    with app.app_context():
        now = utcnow()
        by_district = dashboard.build_chart(db.session, now, "open_by_district")
        assert by_district.header == ["District", "Conflicts", "Exceptions"]
        # Districts by their names, not their codes.
        assert by_district.rows == [["Northeast", 2, 0], ["Pacific", 0, 1]]
        decisions = dashboard.build_chart(db.session, now, "decisions")
        totals = {name: sum(values) for name, values in decisions.series}
        assert totals == {"Partner leads": 2, "MCS leads": 1}
        median = dashboard.build_chart(db.session, now, "resolution_time")
        assert median.series[0][1][-1] == pytest.approx(38.0, abs=0.01)  # hours: 28, 38, 48
        tiers = dashboard.build_chart(db.session, now, "registrations_by_tier", weeks=4)
        # Every tier keeps its column, counted or not, so the CSV's columns never shift.
        assert {name: sum(v) for name, v in tiers.series} == {
            "Gold Certified": 2,
            "Certified": 1,
            "Registered": 0,
            "MCS (direct)": 1,
        }
        assert len(tiers.categories) == 4
        maturity = dashboard.build_chart(db.session, now, "registrations_by_maturity", weeks=4)
        by_level = {name: sum(v) for name, v in maturity.series}
        assert {"Basic", "Standardized", "Rationalized", "Dynamic"} <= set(by_level)
        assert by_level["Standardized"] == 0 and by_level["Dynamic"] == 1


def test_csv_download(app: Flask, client: FlaskClient) -> None:
    users = _setup(app)
    login(client, users["admin"])
    resp = client.get("/dashboard.csv?chart=open_by_rule")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["Rule", "Conflicts", "Exceptions"]
    assert ["NAMED_ACCOUNT", "1", "0"] in rows
    assert client.get("/dashboard.csv?chart=nope").status_code == 404


def test_csv_cells_cannot_become_formulas() -> None:
    chart = dashboard.Chart(
        key="x",
        title="t",
        kind="bars",
        category_label="District",
        categories=["=HYPERLINK(1)"],
        series=[("n", [1.0])],
    )
    assert "'=HYPERLINK(1)" in dashboard.to_csv(chart)


def test_partners_never_see_the_dashboard(app: Flask, client: FlaskClient) -> None:
    users = _setup(app)
    login(client, users["partner"])
    assert client.get("/dashboard").status_code == 404
    assert client.get("/dashboard.csv?chart=decisions").status_code == 404


def test_empty_dashboard(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    login(client, email)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "No data for this chart yet." in html
