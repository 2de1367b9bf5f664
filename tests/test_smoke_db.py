from desktop_app.services import users


def test_first_admin_and_user_list(db, admin, make_user):
    make_user("csr", "carol")
    names = [(u.username, u.role.value) for u in users.list_users(db)]
    assert names == [("admin", "admin"), ("carol", "csr")]
