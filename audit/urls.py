from django.urls import path

from audit import views

urlpatterns = [
    path("user/audit-events", views.OwnAuditEventsView.as_view(), name="own-audit-events"),
    path(
        "user/organizations/<ulid:organization_id>/audit-events",
        views.OrganizationAuditEventsView.as_view(),
        name="organization-audit-events",
    ),
]
