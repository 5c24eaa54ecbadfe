from django.urls import path

from leaks import views

urlpatterns = [
    path("keys/report", views.KeyReportView.as_view(), name="key-report"),
    path("keys/secret-scanning", views.SecretScanningView.as_view(), name="key-secret-scanning"),
]
