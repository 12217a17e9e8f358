"""A lab TPM node on its lab BMC's host: the BMC boots the host, the TPM measures what booted.

``attach(bmc, node)`` makes the node follow its BMC (one console Node has both in the lab,
matched by name in ``run_lab``). At every host boot the BMC announces (power on, reset or cycle
over IPMI or Redfish, after staged images are activated; not when the host hangs in POST) the
node is flashed with the BIOS release the BMC now runs, as the build the BMC activated (one that
measures differently under the ``measures_differently`` fault switch), and boots: its quote and
event log then show that release. The BMC side only knows the `HostBoot` callback.

The other way round, a lab control that flashes the TPM node directly (``lab_control NODE
flash``, ``reset``) goes through `HostLink.report` so the BMC reports the release it runs.
"""

from __future__ import annotations

from apps.lab.bmc.events import HostBoot

from .node import LabTpmNode


class HostLink:
    """The tie between one lab BMC and the lab TPM node of the same host."""

    def __init__(self, bmc, node: LabTpmNode) -> None:
        self.bmc = bmc
        self.node = node

    def host_booted(self, boot: HostBoot) -> None:
        """`LabBmc.on_boot` listener (BMC lock held): measure the BIOS the host booted."""
        self.node.flash(boot.firmware["BIOS"], measures_differently=boot.measures_differently)

    def report(self) -> None:
        """The BMC reports the release the node runs (after a lab control changed it)."""
        self.bmc.set_bios_version(
            self.node.release.version, measures_differently=self.node.measures_differently
        )

    def detach(self) -> None:
        with self.bmc.lock:
            if self.host_booted in self.bmc.on_boot:
                self.bmc.on_boot.remove(self.host_booted)


def attach(bmc, node: LabTpmNode) -> HostLink:
    """Tie ``node`` to ``bmc``'s host boots. The BMC starts out reporting the release the node
    runs (the node's is the recorded one: the database's configuration in ``run_lab``)."""
    link = HostLink(bmc, node)
    with bmc.lock:
        link.report()
        bmc.on_boot.append(link.host_booted)
    return link
