/*
 * Real-mode test guest (flat binary at 1000:0000): prints a line over COM1 and
 * asks the i8042 for a reset.
 */
    .code16
    .text
    .globl _start
_start:
    cli
    mov     %cs, %ax
    mov     %ax, %ds
    mov     $hello, %si
    call    puts
    mov     $0xfe, %al
    out     %al, $0x64
1:  hlt
    jmp     1b

    .include "serial16.S"

hello:
    .asciz  "real mode guest: hello from 1000:0000\n"
