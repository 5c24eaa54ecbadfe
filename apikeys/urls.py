from django.urls import path

from apikeys import organization_views, policy_views, views

urlpatterns = [
    path("auth/api-key/create", views.ApiKeyCreateView.as_view(), name="api-key-create"),
    path("auth/api-key/list", views.ApiKeyListView.as_view(), name="api-key-list"),
    path("auth/api-key/get", views.ApiKeyGetView.as_view(), name="api-key-get"),
    path("auth/api-key/update", views.ApiKeyUpdateView.as_view(), name="api-key-update"),
    path("auth/api-key/revoke", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    # After the fixed paths above, which no key id can be.
    path("auth/api-key/<str:key_id>", views.ApiKeyEditView.as_view(), name="api-key-edit"),
    path("auth/api-key/<str:key_id>/roll", views.ApiKeyRollView.as_view(), name="api-key-roll"),
    path("scopes", views.ScopeCatalogueView.as_view(), name="scopes"),
    path(
        "user/organizations/<ulid:organization_id>/key-policy",
        policy_views.KeyPolicyView.as_view(),
        name="key-policy",
    ),
    path(
        "user/organizations/<ulid:organization_id>/api-keys",
        organization_views.OrganizationApiKeyListView.as_view(),
        name="organization-api-keys",
    ),
    path(
        "user/organizations/<ulid:organization_id>/api-keys/<str:key_id>/revoke",
        organization_views.OrganizationApiKeyRevokeView.as_view(),
        name="organization-api-key-revoke",
    ),
]
