"""A lab TPM node on its lab BMC's host: the BMC boots the host, the TPM measures what booted.

``attach(bmc, node)`` makes the node follow its BMC (one console Node has both in the lab,
matched by name in ``run_lab``). After every host boot the BMC announces (power on, reset or
cycle over IPMI or Redfish, once staged images are activated) the node is flashed with the BIOS
release the BMC now runs, as the build the BMC activated (one that measures differently under
the ``measures_differently`` fault switch), and boots: its quote and event log then show that
release. While the host is off or hung in POST its agent does not answer (no OS runs it). The
BMC side only knows the `HostState` listener.

The other way round, a lab control that flashes the TPM node directly (``lab_control NODE
flash``, ``reset``) goes through `HostLink.report` so the BMC reports the release it runs.
"""

from __future__ import annotations

from apps.lab.bmc.events import HostState

from .node import LabTpmNode


class HostLink:
    """The tie between one lab BMC and the lab TPM node of the same host."""

    def __init__(self, bmc, node: LabTpmNode) -> None:
        self.bmc = bmc
        self.node = node

    def host_changed(self, state: HostState) -> None:
        """`LabBmc.host_listeners` entry (BMC lock held): measure the BIOS the host booted."""
        if not state.running:
            self.node.host_down()
            return
        self.node.flash(state.firmware["BIOS"], measures_differently=state.measures_differently)
        self.node.host_up()

    def report(self) -> None:
        """The BMC reports the release the node runs (after a lab control changed it)."""
        self.bmc.set_bios_version(
            self.node.release.version, measures_differently=self.node.measures_differently
        )

    def detach(self) -> None:
        with self.bmc.lock:
            if self.host_changed in self.bmc.host_listeners:
                self.bmc.host_listeners.remove(self.host_changed)


def attach(bmc, node: LabTpmNode) -> HostLink:
    """Tie ``node`` to ``bmc``'s host. The BMC starts out reporting the release the node runs
    (the node's is the recorded one: the database's configuration in ``run_lab``); a host that
    is not running has no agent answering."""
    link = HostLink(bmc, node)
    with bmc.lock:
        link.report()
        if not bmc.host_state().running:
            node.host_down()
        bmc.host_listeners.append(link.host_changed)
    return link
