"""The project's routes: its own under /api/, then Latchkey's."""

from django.urls import include, path

from config import urls as latchkey

# Latchkey's last /api/ route answers any path it does not know with the 404 envelope, so the
# project's own routes come first.
urlpatterns = [
    path("api/", include("notes.urls")),
    *latchkey.urlpatterns,
]

handler400 = latchkey.handler400
handler403 = latchkey.handler403
handler404 = latchkey.handler404
handler500 = latchkey.handler500
