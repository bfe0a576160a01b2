"""The nested KVM lab: boots an L1 Linux with real KVM (Xen support) under QEMU TCG.

Modules: cache (where prepared files live), kernel (the L1 kernel package),
initramfs (the L1 init image), session (one QEMU run of one command).
"""


class LabError(Exception):
    """A failure of the lab itself (set-up, QEMU, L1): never a test result."""
