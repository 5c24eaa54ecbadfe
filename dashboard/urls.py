"""The dashboard's pages: server-rendered, plain forms, and the same services as the API."""

from django.urls import path

from dashboard.views import (
    accounts,
    applications,
    invitations,
    keys,
    oauth_applications,
    organization_applications,
    organization_keys,
    organizations,
)

app_name = "dashboard"

urlpatterns = [
    path("", accounts.landing, name="landing"),
    path("sign-up", accounts.sign_up, name="sign-up"),
    path("sign-in", accounts.sign_in, name="sign-in"),
    path("sign-out", accounts.sign_out, name="sign-out"),
    path("verify-email", accounts.verify_email_choice, name="verify-email-choice"),
    path("verify-email/resend", accounts.resend_verification, name="resend-verification"),
    path("verify-email/<str:token>", accounts.verify_email, name="verify-email"),
    path("reset-password", accounts.password_reset_request, name="password-reset"),
    path(
        "reset-password/new-password",
        accounts.password_reset_choose,
        name="password-reset-choose",
    ),
    path(
        "reset-password/<str:token>",
        accounts.password_reset_confirm,
        name="password-reset-confirm",
    ),
    path("settings/password", accounts.password_change, name="password-change"),
    path("invitation", invitations.invitation, name="invitation"),
    path("invitations/<str:token>", invitations.invitation_link, name="invitation-link"),
    path("dashboard", organizations.home, name="home"),
    path("organizations/new", organizations.organization_create, name="organization-create"),
    path(
        "organizations/<ulid:organization_id>/projects",
        organizations.projects,
        name="projects",
    ),
    path(
        "organizations/<ulid:organization_id>/projects/<ulid:project_id>/edit",
        organizations.project_edit,
        name="project-edit",
    ),
    path(
        "organizations/<ulid:organization_id>/projects/<ulid:project_id>/delete",
        organizations.project_delete,
        name="project-delete",
    ),
    path(
        "organizations/<ulid:organization_id>/members",
        organizations.members,
        name="members",
    ),
    path(
        "organizations/<ulid:organization_id>/members/<ulid:user_id>/role",
        organizations.member_role,
        name="member-role",
    ),
    path(
        "organizations/<ulid:organization_id>/members/<ulid:user_id>/remove",
        organizations.member_remove,
        name="member-remove",
    ),
    path(
        "organizations/<ulid:organization_id>/members/<ulid:user_id>/transfer",
        organizations.member_transfer,
        name="member-transfer",
    ),
    path(
        "organizations/<ulid:organization_id>/invitations",
        invitations.invite,
        name="invite",
    ),
    path(
        "organizations/<ulid:organization_id>/invitations/<ulid:invitation_id>/resend",
        invitations.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "organizations/<ulid:organization_id>/invitations/<ulid:invitation_id>/withdraw",
        invitations.invitation_withdraw,
        name="invitation-withdraw",
    ),
    path(
        "organizations/<ulid:organization_id>/applications",
        organization_applications.organization_applications,
        name="organization-applications",
    ),
    path(
        "organizations/<ulid:organization_id>/applications/<int:application_id>/revoke",
        organization_applications.organization_application_revoke,
        name="organization-application-revoke",
    ),
    path("organizations/<ulid:organization_id>/leave", organizations.leave, name="leave"),
    path(
        "organizations/<ulid:organization_id>/settings",
        organizations.organization_settings,
        name="organization-settings",
    ),
    path(
        "organizations/<ulid:organization_id>/delete",
        organizations.organization_delete,
        name="organization-delete",
    ),
    path(
        "settings/authorized-applications",
        applications.authorized_applications,
        name="authorized-applications",
    ),
    path(
        "settings/authorized-applications/<int:application_id>/revoke",
        applications.authorized_application_revoke,
        name="authorized-application-revoke",
    ),
    path(
        "settings/oauth-applications",
        oauth_applications.oauth_applications,
        name="oauth-applications",
    ),
    path(
        "settings/oauth-applications/new",
        oauth_applications.oauth_application_create,
        name="oauth-application-create",
    ),
    path(
        "settings/oauth-applications/<int:application_id>/delete",
        oauth_applications.oauth_application_delete,
        name="oauth-application-delete",
    ),
    path("settings/api-keys", keys.api_keys, name="api-keys"),
    path("settings/api-keys/new", keys.api_key_create, name="api-key-create"),
    path("settings/api-keys/<str:key_id>", keys.api_key_detail, name="api-key"),
    path("settings/api-keys/<str:key_id>/edit", keys.api_key_edit, name="api-key-edit"),
    path("settings/api-keys/<str:key_id>/roll", keys.api_key_roll, name="api-key-roll"),
    path("settings/api-keys/<str:key_id>/revoke", keys.api_key_revoke, name="api-key-revoke"),
    path(
        "organizations/<ulid:organization_id>/api-keys",
        organization_keys.organization_api_keys,
        name="organization-api-keys",
    ),
    path(
        "organizations/<ulid:organization_id>/api-keys/<str:key_id>/revoke",
        organization_keys.organization_api_key_revoke,
        name="organization-api-key-revoke",
    ),
    path(
        "organizations/<ulid:organization_id>/key-policy",
        organization_keys.organization_key_policy,
        name="organization-key-policy",
    ),
]
