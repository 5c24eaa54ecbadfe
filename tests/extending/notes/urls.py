from django.urls import path

from . import views

urlpatterns = [
    path(
        "user/organizations/<ulid:organization_id>/notes",
        views.NoteListView.as_view(),
        name="notes",
    ),
    path(
        "user/organizations/<ulid:organization_id>/notes/<ulid:note_id>",
        views.NoteDetailView.as_view(),
        name="note",
    ),
]
