/* Exception table: any CPU fault in the guest is reported on port 0xE9 instead of
 * triple-faulting silently (e.g. #UD from vmcall on the wrong vendor, #GP from wrmsr). */
#include "kxen_rt.h"
#include "rt_internal.h"
#include "rt_layout.h"

#define GATE_INTERRUPT_PRESENT 0x8e

#ifdef __x86_64__
struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t ist, type;
    uint16_t offset_mid;
    uint32_t offset_hi, reserved;
};
_Static_assert(sizeof(struct idt_gate) == 16, "long-mode IDT gates are 16 bytes");
#else
struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t zero, type;
    uint16_t offset_hi;
};
_Static_assert(sizeof(struct idt_gate) == 8, "protected-mode IDT gates are 8 bytes");
#endif

struct __attribute__((packed)) idt_desc {
    uint16_t limit;
    uintptr_t base;
};

extern const uintptr_t rt_trap_stubs[RT_NR_EXCEPTIONS];
static struct idt_gate rt_idt[RT_NR_EXCEPTIONS] __attribute__((aligned(16)));
/* Set while a fault is being reported, so a fault inside the report just halts. */
static volatile int rt_in_trap;

static const char *const rt_trap_names[RT_NR_EXCEPTIONS] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#MF(old)", "#TS", "#NP",
    "#SS", "#GP", "#PF", "reserved", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static struct idt_gate make_gate(uintptr_t handler)
{
    struct idt_gate g = {0};
    g.offset_lo = (uint16_t)handler;
    g.selector = RT_SEL_CODE;
    g.type = GATE_INTERRUPT_PRESENT;
#ifdef __x86_64__
    g.offset_mid = (uint16_t)(handler >> 16);
    g.offset_hi = (uint32_t)(handler >> 32);
#else
    g.offset_hi = (uint16_t)(handler >> 16);
#endif
    return g;
}

void rt_traps_init(void)
{
    for (unsigned i = 0; i < RT_NR_EXCEPTIONS; i++)
        rt_idt[i] = make_gate(rt_trap_stubs[i]);
    struct idt_desc d = {sizeof(rt_idt) - 1, (uintptr_t)rt_idt};
    __asm__ volatile("lidt %0" : : "m"(d));
}

void rt_trap(uintptr_t vector, uintptr_t error, uintptr_t ip);
void rt_trap(uintptr_t vector, uintptr_t error, uintptr_t ip)
{
    if (rt_in_trap)
        rt_halt();
    rt_in_trap = 1;
    const char *name = vector < RT_NR_EXCEPTIONS && rt_trap_names[vector] ? rt_trap_names[vector]
                                                                          : "exception";
    uintptr_t cr2 = 0;
    if (vector == 14)
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    debugcon_printf("kxen-rt: CPU exception %lu (%s) error=%#lx ip=%#lx cr2=%#lx\n",
                    (unsigned long)vector, name, (unsigned long)error, (unsigned long)ip,
                    (unsigned long)cr2);
    rt_fail("unexpected CPU exception");
}
