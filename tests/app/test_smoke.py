from flask.testing import FlaskClient

from tests.conftest import AuthActions, UserFactory


def test_login_page_and_login(client: FlaskClient, auth: AuthActions, make_user: UserFactory) -> None:
    assert client.get("/login").status_code == 200
    make_user("m@example.org")
    response = auth.login("m@example.org")
    assert response.status_code == 302
    assert client.get("/").status_code == 200
