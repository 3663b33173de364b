/*
 * vmm's built-in x86 guest: a flat real-mode binary loaded at 1000:0000.
 *
 * It counts the enabled processors in the MP table vmm writes (the BIOS data area
 * at 0x40e gives the EBDA segment; the MP floating pointer is at its start),
 * prints a banner on COM1, and asks the i8042 for a reset, which ends the VM with
 * exit status 0. Build: as --32 -I. builtin.S -o builtin.o; ld -m elf_i386 -T guest16.ld.
 */
    .code16
    .text
    .globl _start
_start:
    cli
    mov     %cs, %ax
    mov     %ax, %ds
    mov     %ax, %ss
    mov     $0x8000, %sp

    mov     $0x3fb, %dx             /* COM1 line control: 8 bits, no parity, 1 stop */
    mov     $0x03, %al
    out     %al, (%dx)

    call    count_cpus              /* -> %cx */
    mov     $banner, %si
    call    puts
    mov     %cx, %ax
    call    putdec
    mov     $vcpu_word, %si
    call    puts
    cmp     $1, %cx
    je      1f
    mov     $'s', %al
    call    putc
1:  mov     $'\n', %al
    call    putc

    mov     $0xfe, %al              /* i8042: pulse the reset line */
    out     %al, $0x64
halt:
    hlt
    jmp     halt

/* %cx = enabled processor entries in the MP table, or 1 when there is none. */
count_cpus:
    push    %es
    mov     $1, %cx
    xor     %ax, %ax
    mov     %ax, %es
    mov     %es:0x40e, %ax          /* EBDA segment */
    test    %ax, %ax
    jz      9f
    mov     %ax, %es
    cmpl    $0x5f504d5f, %es:0      /* "_MP_" */
    jne     9f
    mov     %es:4, %eax             /* physical address of the configuration table */
    mov     %eax, %ebx
    shr     $4, %eax
    mov     %ax, %es
    and     $0xf, %bx
    cmpl    $0x504d4350, %es:(%bx)  /* "PCMP" */
    jne     9f
    mov     %es:0x22(%bx), %dx      /* entry count */
    add     $0x2c, %bx              /* first entry */
    xor     %cx, %cx
2:  test    %dx, %dx
    jz      8f
    cmpb    $0, %es:(%bx)           /* processor entry? */
    jne     3f
    testb   $1, %es:3(%bx)          /* enabled? */
    jz      4f
    inc     %cx
4:  add     $20, %bx
    jmp     5f
3:  add     $8, %bx
5:  dec     %dx
    jmp     2b
8:  test    %cx, %cx
    jnz     9f
    inc     %cx
9:  pop     %es
    ret

    .include "serial16.S"

banner:
    .asciz  "vmm: built-in guest: hello from real mode, "
vcpu_word:
    .asciz  " vCPU"
