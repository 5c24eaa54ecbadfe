from django.urls import path

from tenants import views

urlpatterns = [
    path("user/organizations", views.OrganizationListView.as_view(), name="organizations"),
    path(
        "user/organizations/<ulid:organization_id>",
        views.OrganizationDetailView.as_view(),
        name="organization",
    ),
    path(
        "user/organizations/<ulid:organization_id>/members",
        views.MemberListView.as_view(),
        name="members",
    ),
    path(
        "user/organizations/<ulid:organization_id>/members/<ulid:user_id>",
        views.MemberDetailView.as_view(),
        name="member",
    ),
    path(
        "user/organizations/<ulid:organization_id>/leave",
        views.LeaveView.as_view(),
        name="leave",
    ),
    path(
        "user/organizations/<ulid:organization_id>/transfer-ownership",
        views.OwnershipTransferView.as_view(),
        name="transfer-ownership",
    ),
    path(
        "user/organizations/<ulid:organization_id>/projects",
        views.ProjectListView.as_view(),
        name="projects",
    ),
    path(
        "user/organizations/<ulid:organization_id>/projects/<ulid:project_id>",
        views.ProjectDetailView.as_view(),
        name="project",
    ),
    path(
        "user/organizations/<ulid:organization_id>/subscription",
        views.SubscriptionView.as_view(),
        name="subscription",
    ),
    path(
        "user/organizations/<ulid:organization_id>/aggregate",
        views.AggregateView.as_view(),
        name="aggregate",
    ),
]
