/* CPU exception stubs: push a zero error code where the CPU pushes none, push the vector and
 * hand the frame to rt_trap(vector, error, ip), which reports the fault on port 0xE9. */
#include "rt_layout.h"

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)
#define ALL_VECTORS 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31

        .text
        .irp    v, ALL_VECTORS
        .balign 16
rt_trap_stub_\v:
        .ifeq   HAS_ERR(\v)
        push    $0
        .endif
        push    $\v
        jmp     rt_trap_common
        .endr

rt_trap_common:
#ifdef __x86_64__
        mov     (%rsp), %rdi            /* vector */
        mov     8(%rsp), %rsi           /* error code */
        mov     16(%rsp), %rdx          /* faulting RIP */
        and     $-16, %rsp
        call    rt_trap
#else
        call    rt_trap                 /* the frame already is (vector, error, eip) */
#endif
1:      cli
        hlt
        jmp     1b

        .section .rodata
        .balign 8
        .globl  rt_trap_stubs
rt_trap_stubs:
        .irp    v, ALL_VECTORS
#ifdef __x86_64__
        .quad   rt_trap_stub_\v
#else
        .long   rt_trap_stub_\v
#endif
        .endr

        .section .note.GNU-stack, "", @progbits
