/*
 * Real-mode test guest for console input: polls COM1's line status until a byte
 * arrives, echoes a whole line back after a prompt, then resets through the i8042.
 */
    .code16
    .text
    .globl _start
_start:
    cli
    mov     %cs, %ax
    mov     %ax, %ds
    mov     $prompt, %si
    call    puts
read:
    mov     $0x3fd, %dx             /* line status: wait for data ready */
1:  in      (%dx), %al
    test    $1, %al
    jz      1b
    mov     $0x3f8, %dx
    in      (%dx), %al
    call    putc
    cmp     $'\n', %al
    jne     read
    mov     $0xfe, %al
    out     %al, $0x64
2:  hlt
    jmp     2b

    .include "serial16.S"

prompt:
    .asciz  "echo guest: "
