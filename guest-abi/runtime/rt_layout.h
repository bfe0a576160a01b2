/* Layout constants shared by the runtime's assembly and C (no Xen ABI here: x86 only). */
#ifndef KXEN_RT_LAYOUT_H
#define KXEN_RT_LAYOUT_H

/* GDT selectors of the runtime's own GDT (entry.S). */
#define RT_SEL_CODE32 0x08
#define RT_SEL_DATA 0x10
#define RT_SEL_CODE64 0x18

#ifdef __x86_64__
#define RT_SEL_CODE RT_SEL_CODE64
#else
#define RT_SEL_CODE RT_SEL_CODE32
#endif

/* Architectural x86 bits used by the mode switch. */
#define RT_CR0_PG 0x80000000
#define RT_CR4_PAE 0x00000020
#define RT_MSR_EFER 0xc0000080
#define RT_EFER_LME 0x00000100
#define RT_PTE_PRESENT_RW 0x003
#define RT_PDE_LARGE_PRESENT_RW 0x083
#define RT_CPUID_EXT_MAX 0x80000000
#define RT_CPUID_EXT_FEATURES 0x80000001
#define RT_CPUID_EXT_LM_BIT 29

/* Bochs/QEMU-style debug console port (kxen::kDebugConsolePort on the host side). */
#define RT_DEBUGCON_PORT 0xe9

/* Number of CPU exception vectors the runtime catches. */
#define RT_NR_EXCEPTIONS 32
#define RT_STACK_SIZE 16384

#endif
