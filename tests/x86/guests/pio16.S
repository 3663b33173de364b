/*
 * Real-mode test guest: 100,000 port writes to port 0x80 (which no device claims,
 * so each is one KVM_EXIT_IO the VMM ignores), framed by two markers on COM1.
 */
    .code16
    .text
    .globl _start
_start:
    cli
    mov     %cs, %ax
    mov     %ax, %ds
    mov     $start_msg, %si
    call    puts
    mov     $100000, %ecx
1:  out     %al, $0x80
    dec     %ecx
    jnz     1b
    mov     $done_msg, %si
    call    puts
    mov     $0xfe, %al
    out     %al, $0x64
2:  hlt
    jmp     2b

    .include "serial16.S"

start_msg:
    .asciz  "pio guest: start\n"
done_msg:
    .asciz  "pio guest: 100000 port writes done\n"
