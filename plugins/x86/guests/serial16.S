/*
 * COM1 output for 16-bit guests (real mode, %ds addressing the strings).
 * Included by builtin.S and the 16-bit test guests: .include "serial16.S".
 */

/* Print the NUL-terminated string at %ds:%si. */
puts:
    lodsb
    test    %al, %al
    jz      1f
    call    putc
    jmp     puts
1:  ret

/* Print %al on COM1. */
putc:
    push    %dx
    mov     $0x3f8, %dx
    out     %al, (%dx)
    pop     %dx
    ret

/* Print %ax in decimal. */
putdec:
    push    %cx
    mov     $10, %bx
    xor     %cx, %cx
1:  xor     %dx, %dx
    div     %bx
    push    %dx
    inc     %cx
    test    %ax, %ax
    jnz     1b
2:  pop     %ax
    add     $'0', %al
    call    putc
    loop    2b
    pop     %cx
    ret

