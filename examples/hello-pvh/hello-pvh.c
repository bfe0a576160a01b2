/* hello-pvh: the smallest useful Xen PVH guest, for people trying kxen.
 *
 * What happens before main() (guest-abi/runtime/entry.S):
 *   - kxen reads the ELF note XEN_ELFNOTE_PHYS32_ENTRY, loads the image at 1 MiB and starts
 *     the vCPU there in 32-bit protected mode, paging off, with EBX pointing at a
 *     struct hvm_start_info (command line, memory map, modules).
 *   - The runtime loads its own GDT and stack, switches to long mode and calls main().
 *
 * What main() does:
 *   1. Writes to port 0xE9 (kxen's debug console), which works before any hypercall.
 *   2. Finds the hypervisor through CPUID and sets up hypercalls (hypercall_init()).
 *   3. Prints through the Xen console (HYPERVISOR_console_io), shows the Xen version,
 *      the command line and the memory map kxen passed in hvm_start_info.
 *   4. Returns 0: the runtime then asks for SCHEDOP_shutdown(SHUTDOWN_poweroff).
 */
#include "kxen_rt.h"
#include <xen/version.h>

/* The memory map is optional (start_info version 1); read at most this many entries. */
#define MAX_MEMMAP_ENTRIES 16u
/* Addresses must be below 4 GiB: the runtime identity-maps only that much. */
#define LIMIT_4GIB 0x100000000ULL

static const char *memmap_type(uint32_t type)
{
    switch (type) {
    case XEN_HVM_MEMMAP_TYPE_RAM: return "RAM";
    case XEN_HVM_MEMMAP_TYPE_RESERVED: return "reserved";
    case XEN_HVM_MEMMAP_TYPE_ACPI: return "ACPI";
    case XEN_HVM_MEMMAP_TYPE_NVS: return "NVS";
    default: return "other";
    }
}

static void print_memmap(const struct hvm_start_info *si)
{
    if (si->version < 1 || si->memmap_paddr == 0 || si->memmap_paddr >= LIMIT_4GIB) {
        xen_console_printf("memory map: none in hvm_start_info\n");
        return;
    }
    const struct hvm_memmap_table_entry *map =
        (const struct hvm_memmap_table_entry *)(uintptr_t)si->memmap_paddr;
    uint32_t n = si->memmap_entries < MAX_MEMMAP_ENTRIES ? si->memmap_entries : MAX_MEMMAP_ENTRIES;
    xen_console_printf("memory map: %u entries\n", si->memmap_entries);
    for (uint32_t i = 0; i < n; i++)
        xen_console_printf("  0x%016llx-0x%016llx %s\n", (unsigned long long)map[i].addr,
                           (unsigned long long)(map[i].addr + map[i].size - 1),
                           memmap_type(map[i].type));
}

int main(void)
{
    debugcon_puts("hello-pvh: alive (port 0xE9)\n");
    if (hypercall_init() < 0)
        rt_fail("no usable Xen hypercall interface");

    long version = xen_version(XENVER_version, NULL);
    if (version < 0)
        rt_fail("XENVER_version failed");
    xen_console_printf("Hello from a PVH guest on Xen %ld.%ld (hypercalls via %s)\n",
                       version >> 16, version & 0xffff,
                       hypercall_transport_name(hypercall_transport()));
    xen_console_printf("command line: \"%s\"\n", rt_cmdline());

    const struct hvm_start_info *si = rt_start_info();
    if (si != NULL)
        print_memmap(si);
    xen_console_printf("hello-pvh: powering off\n");
    return 0;
}
