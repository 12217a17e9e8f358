"""Nodes whose BMC is one of a dual lab's (IPMI and Redfish faces of the same lab BMC)."""

from apps.sites.models import Node
from tests.factories import NodeFactory


def dual_lab_node(lab, index: int = 0, *, accepted: bool = False, **fields) -> Node:
    """A node on lab BMC ``index``; ``accepted`` pins the Redfish face's certificate."""
    face = lab.redfish.endpoint(index)
    values = {
        "bmc_host": "127.0.0.1",
        "bmc_port": lab.ipmi.port(index),
        "redfish_port": face.port,
        "bmc_username": face.username,
        "bmc_password": face.password,
    }
    node = NodeFactory(**(values | fields))
    if accepted:
        Node.objects.filter(pk=node.pk).update(bmc_tls_fingerprint=face.fingerprint)
        node.refresh_from_db()
    return node
