/*
 * Long-mode test guest for vmm's emulation-failure report: it announces itself,
 * then executes CMPXCHG16B, which this host's PVM KVM cannot emulate (a
 * KVM_EXIT_INTERNAL_ERROR at fail_here). Where the instruction runs natively the
 * guest says so and resets through the i8042.
 */
    .text
    .code64
    .globl  start64
start64:
    lea     stack_top(%rip), %rsp
    lea     hello(%rip), %rsi
    call    puts
    lea     target(%rip), %rdi
    xor     %eax, %eax
    xor     %edx, %edx
    xor     %ebx, %ebx
    xor     %ecx, %ecx
    .globl  fail_here
fail_here:
    lock cmpxchg16b (%rdi)
    lea     survived(%rip), %rsi
    call    puts
    mov     $0xfe, %al
    out     %al, $0x64
1:  hlt
    jmp     1b

    .include "serial64.S"

    .section .rodata
hello:
    .asciz  "emulation guest: executing cmpxchg16b\n"
survived:
    .asciz  "emulation guest: cmpxchg16b ran natively\n"

    .data
    .balign 16
target:
    .quad   0, 0

    .bss
    .balign 16
    .skip   1024
stack_top:
