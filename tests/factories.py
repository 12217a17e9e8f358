"""factory_boy factories for the fleet and its users."""

import factory
from django.contrib.auth.hashers import make_password

from apps.accounts.models import Role, User
from apps.sites.models import HeatMeter, Node, Organisation, Site

PASSWORD = "correct horse battery"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Partner {n}")
    kind = Organisation.Kind.PARTNER


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    code = factory.Sequence(lambda n: f"site-{n:04d}")
    name = factory.Sequence(lambda n: f"Boiler room {n}")
    city = "Lyon"
    address = "1 rue du Four, Lyon"
    partner = factory.SubFactory(OrganisationFactory)
    heat_network = "Réseau Lyon"
    contract_min_supply_c = 60
    nominal_capacity_kw = 40
    timezone = "Europe/Paris"


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Node
        skip_postgeneration_save = True

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"node-{n:04d}")
    rack_position = "R1-U2"
    model = "HS-CP2"
    serial = factory.Sequence(lambda n: f"SN{n:06d}")
    bmc_host = "127.0.0.1"
    bmc_port = 623
    bmc_username = "admin"

    @factory.post_generation
    def bmc_password(self, create, extracted, **kwargs):
        self.set_bmc_password(extracted if extracted is not None else "password")
        if create:
            self.save(update_fields=["bmc_password_encrypted"])


class HeatMeterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HeatMeter

    site = factory.SubFactory(SiteFactory)
    serial = factory.Sequence(lambda n: f"HM{n:06d}")
    host = "127.0.0.1"
    port = 502


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.ENGINEER
    password = factory.LazyFunction(lambda: make_password(PASSWORD))
