/* Start-up of the gdb guest's second vCPU (64-bit image only): the BSP copies the real-mode
 * trampoline to GDB_AP_TRAMPOLINE and sends INIT + SIPI; the AP loads the BSP's GDT (its GDTR
 * patched into the copy), enters protected mode, then long mode on the BSP's page tables
 * (gdb_ap_cr3), and calls gdb_ap_main on its own stack. */
#include "rt_layout.h"

#ifdef __x86_64__
        .section .text, "ax", @progbits
        .code16
        .globl gdb_ap_trampoline, gdb_ap_trampoline_end, gdb_ap_gdtr_offset
gdb_ap_trampoline:
        cli
        lgdtl   %cs:(ap_gdtr - gdb_ap_trampoline)
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $RT_SEL_CODE32, $gdb_ap_entry32
        .balign 4
        .word   0
ap_gdtr:                                /* limit, 32-bit base: written by the BSP */
        .word   0
        .long   0
gdb_ap_trampoline_end:
        .set    gdb_ap_gdtr_offset, ap_gdtr - gdb_ap_trampoline

        .code32
gdb_ap_entry32:
        mov     $RT_SEL_DATA, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %fs
        mov     %eax, %gs
        mov     %eax, %ss
        mov     %cr4, %eax
        or      $RT_CR4_PAE, %eax
        mov     %eax, %cr4
        mov     gdb_ap_cr3, %eax
        mov     %eax, %cr3
        mov     $RT_MSR_EFER, %ecx
        rdmsr
        or      $RT_EFER_LME, %eax
        wrmsr
        mov     %cr0, %eax
        or      $RT_CR0_PG, %eax
        mov     %eax, %cr0
        ljmp    $RT_SEL_CODE64, $gdb_ap_entry64

        .code64
gdb_ap_entry64:
        mov     $gdb_ap_stack_top, %rsp
        call    gdb_ap_main
1:      cli
        hlt
        jmp     1b

        .section .bss, "aw", @nobits
        .balign 16
gdb_ap_stack:
        .skip   RT_STACK_SIZE
gdb_ap_stack_top:
#endif
        .section .note.GNU-stack, "", @progbits
