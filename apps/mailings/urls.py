from django.urls import path

from . import views

urlpatterns = [
    path("account/contacts/", views.contacts, name="contacts"),
    path("account/contacts/<int:contact_id>/", views.contact_update, name="contact-update"),
    path("account/contacts/<int:contact_id>/delete/", views.contact_delete, name="contact-delete"),
]
