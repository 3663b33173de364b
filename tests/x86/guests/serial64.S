/*
 * COM1 output for 64-bit guests: puts (%rsi), putc (%al), putdec (%eax).
 * Included by the long-mode test guests: .include "serial64.S".
 */

/* Print the NUL-terminated string at %rsi. */
puts:
    lodsb
    test    %al, %al
    jz      1f
    call    putc
    jmp     puts
1:  ret

/* Print %al on COM1. */
putc:
    push    %rdx
    mov     $0x3f8, %dx
    out     %al, (%dx)
    pop     %rdx
    ret

/* Print %eax in decimal. */
putdec:
    push    %rbx
    push    %rcx
    push    %rdx
    mov     $10, %ebx
    xor     %ecx, %ecx
1:  xor     %edx, %edx
    div     %ebx
    push    %rdx
    inc     %ecx
    test    %eax, %eax
    jnz     1b
2:  pop     %rax
    add     $'0', %al
    call    putc
    loop    2b
    pop     %rdx
    pop     %rcx
    pop     %rbx
    ret
