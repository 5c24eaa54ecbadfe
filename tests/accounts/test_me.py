"""GET /api/user/me and GET /api/auth/status"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

SEED_FIELDS = {
    "id",
    "email",
    "fullName",
    "handle",
    "isVerified",
    "verifiedAt",
    "isActive",
    "lastLoginAt",
    "role",
    "organizationCount",
    "createdAt",
    "updatedAt",
}


def test_me_returns_the_user_in_the_seed_shape(client_for, user_factory, org_factory):
    user = user_factory(email="jane@example.com", full_name="Jane Doe")
    org_factory(owner=user)
    org_factory(owner=user)

    response = client_for(user).get("/api/user/me")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["status"] == 200
    assert body["code"] == "OK"
    assert body["message"] == "User fetched successfully"
    assert set(body["data"]) == SEED_FIELDS
    assert body["data"]["id"] == user.pk
    assert len(body["data"]["id"]) == 26
    assert body["data"]["fullName"] == "Jane Doe"
    assert body["data"]["role"] == "user"
    assert body["data"]["organizationCount"] == 2
    assert body["data"]["createdAt"].endswith("Z")


def test_operators_have_the_admin_role(client_for, user_factory):
    response = client_for(user_factory(is_staff=True)).get("/api/user/me")

    assert response.json()["data"]["role"] == "admin"


def test_me_without_credentials_is_401(api_client):
    response = api_client.get("/api/user/me")

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert response.json()["code"] == "UNAUTHORIZED"
    assert response["WWW-Authenticate"]


def test_me_for_a_deactivated_user_is_401(client_for, user_factory):
    user = user_factory()
    client = client_for(user)
    user.is_active = False
    user.save()

    assert client.get("/api/user/me").status_code == 401


def test_me_query_budget(client_for, user_factory, org_factory, django_assert_max_num_queries):
    user = user_factory()
    for _ in range(5):
        org_factory(owner=user)
    client = client_for(user)

    # session row, user row, organization count
    with django_assert_max_num_queries(3):
        response = client.get("/api/user/me")
    assert response.status_code == 200


def test_status_reports_how_the_caller_authenticated(client_for, user_factory):
    user = user_factory(email="jane@example.com")

    response = client_for(user).get("/api/auth/status")

    assert response.status_code == 200
    body = response.json()
    assert body["authenticated"] is True
    assert body["data"]["authenticated"] is True
    assert body["data"]["authMethod"] == "session"
    assert body["data"]["user"]["email"] == "jane@example.com"


def test_status_without_credentials_is_401(api_client):
    response = api_client.get("/api/auth/status")

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


@pytest.mark.parametrize("verified", [False, True])
@pytest.mark.parametrize("signed_in", [False, True])
@pytest.mark.parametrize("staff", [False, True])
def test_the_direct_representation_is_the_serializers(user_factory, verified, signed_in, staff):
    from django.utils import timezone

    from accounts.serializers import UserSerializer, user_representation

    user = user_factory(verified=verified)
    user.is_staff = staff
    user.last_login = timezone.now() if signed_in else None
    user.organization_count = 3

    assert user_representation(user, 3) == dict(UserSerializer(user).data)
