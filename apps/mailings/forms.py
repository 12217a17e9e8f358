from django import forms
from django.utils.translation import gettext_lazy as _

from .models import PartnerContact


class ContactForm(forms.ModelForm):
    """A partner adds a person who may receive the monthly statement."""

    class Meta:
        model = PartnerContact
        fields = ["name", "email", "language", "monthly_statement"]
        widgets = {
            "name": forms.TextInput(attrs={"class": "form-control form-control-sm"}),
            "email": forms.EmailInput(attrs={"class": "form-control form-control-sm"}),
            "language": forms.Select(attrs={"class": "form-select form-select-sm"}),
            "monthly_statement": forms.CheckboxInput(attrs={"class": "form-check-input"}),
        }

    def __init__(self, *args, organisation_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation_id = organisation_id

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        taken = PartnerContact.objects.filter(organisation_id=self.organisation_id, email=email)
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("This address is already a contact."))
        return email
