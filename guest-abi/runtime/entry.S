/* PVH entry: 32-bit protected mode, paging off, EBX = guest-physical hvm_start_info.
 * Loads our own GDT and stack, zeroes .bss, and (64-bit flavour) enters long mode with an
 * identity map of the first 4 GiB in 2 MiB pages, then calls rt_start(start_info). */
#include <xen/elfnote.h>
#include "rt_layout.h"

/* The note that makes this ELF a PVH kernel; 64-bit images carry an 8-byte value like Linux,
 * because QEMU's PVH loader reads a 64-bit word from ELF64 images. */
        .section .note.Xen, "a", @note
        .balign 4
        .long 2f - 1f
        .long 4f - 3f
        .long XEN_ELFNOTE_PHYS32_ENTRY
1:      .asciz "Xen"
2:      .balign 4
3:
#ifdef __x86_64__
        .quad rt_pvh_entry
#else
        .long rt_pvh_entry
#endif
4:      .balign 4

        .section .text.entry, "ax", @progbits
        .code32
        .globl rt_pvh_entry
        .type rt_pvh_entry, @function
rt_pvh_entry:
        cli
        cld
        mov     %ebx, %esi              /* keep hvm_start_info across the set-up */
        lgdt    rt_gdt_desc
        ljmp    $RT_SEL_CODE32, $1f
1:      mov     $RT_SEL_DATA, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %fs
        mov     %eax, %gs
        mov     %eax, %ss
        mov     $rt_stack_top, %esp
        /* .bss is small (the stack lives outside it), so a string store is cheap. */
        mov     $__bss_start, %edi
        mov     $__bss_end, %ecx
        sub     %edi, %ecx
        shr     $2, %ecx
        xor     %eax, %eax
        rep stosl
#ifdef __x86_64__
        /* Without long mode the switch below would #GP with no IDT yet: say so instead. */
        mov     $RT_CPUID_EXT_MAX, %eax
        cpuid
        cmp     $RT_CPUID_EXT_FEATURES, %eax
        jb      rt_no_long_mode
        mov     $RT_CPUID_EXT_FEATURES, %eax
        cpuid
        bt      $RT_CPUID_EXT_LM_BIT, %edx
        jnc     rt_no_long_mode
        mov     %cr4, %eax
        or      $RT_CR4_PAE, %eax
        mov     %eax, %cr4
        mov     $rt_pml4, %eax
        mov     %eax, %cr3
        mov     $RT_MSR_EFER, %ecx
        rdmsr
        or      $RT_EFER_LME, %eax
        wrmsr
        mov     %cr0, %eax
        or      $RT_CR0_PG, %eax
        mov     %eax, %cr0
        ljmp    $RT_SEL_CODE64, $rt_long_entry

        .code64
rt_long_entry:
        mov     $rt_stack_top, %rsp
        mov     %esi, %edi              /* zero-extends: rt_start(uint32_t start_info_pa) */
        call    rt_start
#else
        push    %esi
        call    rt_start
#endif
2:      cli                             /* rt_start never returns; be safe if it does */
        hlt
        jmp     2b
        .size rt_pvh_entry, . - rt_pvh_entry

#ifdef __x86_64__
        .code32
rt_no_long_mode:
        mov     $rt_no_long_mode_msg, %esi
        mov     $RT_DEBUGCON_PORT, %dx
1:      lodsb
        test    %al, %al
        jz      2f
        outb    %al, %dx
        jmp     1b
2:      cli
        hlt
        jmp     2b

        .section .rodata
rt_no_long_mode_msg:
        .asciz  "kxen-rt: FATAL: CPUID reports no long mode (0x80000001 EDX.LM); halting\n"
#endif

        .section .data.rt_gdt, "aw", @progbits
        .balign 16
/* Flat 4 GiB segments; accessed bits preset so the CPU never writes the table. */
rt_gdt:
        .quad   0
        .quad   0x00cf9b000000ffff      /* RT_SEL_CODE32: 32-bit code */
        .quad   0x00cf93000000ffff      /* RT_SEL_DATA: data */
        .quad   0x00af9b000000ffff      /* RT_SEL_CODE64: 64-bit code */
rt_gdt_end:
        .balign 4
        .word   0
rt_gdt_desc:
        .word   rt_gdt_end - rt_gdt - 1
        .long   rt_gdt

#ifdef __x86_64__
/* Static page tables: no run-time fill loop (guest instructions are slow under emulation). */
        .section .data.rt_pagetables, "aw", @progbits
        .balign 4096
rt_pml4:
        .quad   rt_pdpt + RT_PTE_PRESENT_RW
        .fill   511, 8, 0
rt_pdpt:
        .quad   rt_pd + 0x0000 + RT_PTE_PRESENT_RW
        .quad   rt_pd + 0x1000 + RT_PTE_PRESENT_RW
        .quad   rt_pd + 0x2000 + RT_PTE_PRESENT_RW
        .quad   rt_pd + 0x3000 + RT_PTE_PRESENT_RW
        .fill   508, 8, 0
rt_pd:
        .set    rt_pde_index, 0
        .rept   2048
        .quad   (rt_pde_index << 21) | RT_PDE_LARGE_PRESENT_RW
        .set    rt_pde_index, rt_pde_index + 1
        .endr
#endif

        .section .stack, "aw", @nobits
        .balign 16
rt_stack:
        .skip   RT_STACK_SIZE
rt_stack_top:

        .section .note.GNU-stack, "", @progbits
