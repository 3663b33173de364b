/*
 * PVH test guest: an ELF whose Xen note XEN_ELFNOTE_PHYS32_ENTRY (18) points at
 * 32-bit code. vmm starts it in flat protected mode, paging off, %ebx = the
 * hvm_start_info. It checks the magic, prints the command line, the memory map's
 * entry count and the module count, then resets through the i8042.
 */
    .set    COM1, 0x3f8
    .set    SI_MAGIC, 0
    .set    SI_NR_MODULES, 12
    .set    SI_CMDLINE, 24
    .set    SI_MEMMAP_ENTRIES, 48
    .set    PVH_MAGIC, 0x336ec578

    .section .note.Xen, "a"
    .balign 4
    .long   4                           /* name size: "Xen\0" */
    .long   4                           /* descriptor size */
    .long   18                          /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz  "Xen"
    .balign 4
    .long   pvh_start

    .text
    .code32
    .globl  pvh_start
pvh_start:
    mov     %ebx, %ebp
    mov     $stack_top, %esp
    mov     $hello, %esi
    call    puts
    cmpl    $PVH_MAGIC, SI_MAGIC(%ebp)
    jne     bad_magic
    mov     $cmdline_msg, %esi
    call    puts
    mov     SI_CMDLINE(%ebp), %esi
    call    puts
    mov     $memmap_msg, %esi
    call    puts
    mov     SI_MEMMAP_ENTRIES(%ebp), %eax
    call    putdec
    mov     $modules_msg, %esi
    call    puts
    mov     SI_NR_MODULES(%ebp), %eax
    call    putdec
    mov     $'\n', %al
    call    putc
    jmp     reset
bad_magic:
    mov     $bad_magic_msg, %esi
    call    puts
reset:
    mov     $0xfe, %al
    out     %al, $0x64
1:  hlt
    jmp     1b

puts:
    lodsb
    test    %al, %al
    jz      1f
    call    putc
    jmp     puts
1:  ret

putc:
    push    %edx
    mov     $COM1, %dx
    out     %al, (%dx)
    pop     %edx
    ret

putdec:
    push    %ebx
    push    %ecx
    push    %edx
    mov     $10, %ebx
    xor     %ecx, %ecx
1:  xor     %edx, %edx
    div     %ebx
    push    %edx
    inc     %ecx
    test    %eax, %eax
    jnz     1b
2:  pop     %eax
    add     $'0', %al
    call    putc
    loop    2b
    pop     %edx
    pop     %ecx
    pop     %ebx
    ret

    .section .rodata
hello:
    .asciz  "pvh guest: hello from 32-bit protected mode\n"
bad_magic_msg:
    .asciz  "pvh guest: bad start info magic\n"
cmdline_msg:
    .asciz  "pvh guest: command line: "
memmap_msg:
    .asciz  "\npvh guest: memory map entries: "
modules_msg:
    .asciz  ", modules: "

    .bss
    .balign 16
    .skip   1024
stack_top:
