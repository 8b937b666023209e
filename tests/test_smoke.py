from tests.conftest import csrf_from


def test_owner_logs_in_and_sees_the_team(testapp, make_user, login):
    owner = make_user("owner")
    login(owner)
    page = testapp.get("/team")
    assert owner["email"] in page.text
    assert csrf_from(page)
