"""Districts are shown by name on the admin pages, and by code only when they are not known."""

from flask import Flask
from flask.testing import FlaskClient

from models.db import db
from tests.factories import login, make_district, make_partner, make_user
from web.district_names import district_name


def test_admin_pages_name_districts(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        make_district("mid_atlantic", "east", name="Mid-Atlantic <East>")
        make_partner("Fabrikam Services", district="mid_atlantic")
        make_user("reviewer", districts=["mid_atlantic", "retired_code"])
        admin = make_user("admin").email
        db.session.commit()
    login(client, admin)
    partners = client.get("/admin/partners").get_data(as_text=True)
    assert "<td>Mid-Atlantic &lt;East&gt;</td>" in partners
    users = client.get("/admin/users").get_data(as_text=True)
    # A code no district carries any more is still shown, as it is.
    assert "<td>Mid-Atlantic &lt;East&gt;, retired_code</td>" in users


def test_district_name_outside_a_request(app: Flask) -> None:
    assert district_name(None) == "—" and district_name("") == "—"
    # Without an application there is nothing to look up: the code stands for itself.
    assert district_name("northeast") == "northeast"
    with app.app_context():
        make_district("northeast", "east", name="New England")
        assert district_name("northeast") == "New England"
        assert district_name("nowhere") == "nowhere"
