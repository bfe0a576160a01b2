/* C side of the entry: capture hvm_start_info and the command line, install the exception
 * table, run main() and turn its result into a Xen shutdown. */
/* kxen_rt.h first: the Xen headers expect <stdint.h> types already declared. */
#include "kxen_rt.h"
#include <xen/sched.h>
#include "rt_internal.h"

#define RT_CMDLINE_MAX 256
#define RT_4GIB 0x100000000ULL

/* Runtime state is file-local: a freestanding guest has exactly one boot. */
static const struct hvm_start_info *rt_si;
static char rt_cmdline_buf[RT_CMDLINE_MAX];

const struct hvm_start_info *rt_start_info(void) { return rt_si; }

const char *rt_cmdline(void) { return rt_cmdline_buf; }

/* Both flavours see the first 4 GiB at identity: copy at most RT_CMDLINE_MAX-1 bytes below it. */
static void capture_cmdline(uint64_t pa)
{
    if (pa == 0 || pa >= RT_4GIB)
        return;
    const volatile char *src = (const volatile char *)(uintptr_t)pa;
    size_t i = 0;
    while (i + 1 < RT_CMDLINE_MAX && pa + i < RT_4GIB && src[i] != '\0') {
        rt_cmdline_buf[i] = src[i];
        i++;
    }
    rt_cmdline_buf[i] = '\0';
}

static void capture_start_info(uint32_t pa)
{
    const struct hvm_start_info *si = (const struct hvm_start_info *)(uintptr_t)pa;
    if (pa == 0) {
        debugcon_puts("kxen-rt: no hvm_start_info (EBX = 0)\n");
        return;
    }
    if (si->magic != XEN_HVM_START_MAGIC_VALUE) {
        debugcon_printf("kxen-rt: bad hvm_start_info magic %#x at %#x\n", si->magic, pa);
        return;
    }
    rt_si = si;
    capture_cmdline(si->cmdline_paddr);
}

int rt_cmdline_has(const char *token) { return rt_cmdline_word(rt_cmdline_buf, token); }

__attribute__((noreturn)) void rt_start(uint32_t start_info_pa);
void rt_start(uint32_t start_info_pa)
{
    rt_traps_init();
    capture_start_info(start_info_pa);
    int rc = main();
    if (rc != 0) {
        debugcon_printf("kxen-rt: main returned %d\n", rc);
        rt_fail("guest main failed");
    }
    if (hypercall_transport() == HCALL_NONE)
        rt_fail("main returned 0 but no hypercall transport to power off with");
    long err = xen_shutdown(SHUTDOWN_poweroff);
    debugcon_printf("kxen-rt: SCHEDOP_shutdown(poweroff) returned %ld\n", err);
    rt_fail("poweroff failed");
}
