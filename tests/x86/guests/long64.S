/*
 * Long-mode test guest (ELF64 started by vmm's 64-bit boot protocol: paging on,
 * flat segments, %rsi = boot_params). The boot vCPU prints the command line and
 * the e820 entry count from boot_params, finds the other CPUs in the MP table and
 * starts each with INIT + SIPI through its local APIC; each AP prints from real
 * mode and reports its APIC id. Then the i8042 resets the machine.
 */
    .set    COM1, 0x3f8
    .set    LAPIC_SVR, 0xfee000f0
    .set    LAPIC_ICR_LOW, 0xfee00300
    .set    LAPIC_ICR_HIGH, 0xfee00310
    .set    BP_E820_ENTRIES, 0x1e8
    .set    BP_CMD_LINE_PTR, 0x228
    .set    NO_AP, 0xff

    .section .trampoline, "ax"
    .code16
ap_start:                               /* cs = 0x300, ip = 0 */
    cli
    mov     %cs, %ax
    mov     %ax, %ds
    mov     $1, %eax
    cpuid
    shr     $24, %ebx                   /* initial APIC id */
    mov     $(ap_msg - ap_start), %si
    call    ap_puts
    mov     %bl, %al
    add     $'0', %al
    call    ap_putc
    mov     $(ap_msg2 - ap_start), %si
    call    ap_puts
    mov     %bl, (ap_flag - ap_start)   /* tell the boot vCPU */
1:  hlt
    jmp     1b
ap_puts:
    lodsb
    test    %al, %al
    jz      2f
    call    ap_putc
    jmp     ap_puts
2:  ret
ap_putc:
    mov     $COM1, %dx
    out     %al, (%dx)
    ret
ap_msg:
    .asciz  "long mode guest: vCPU with APIC id "
ap_msg2:
    .asciz  " is up (real mode, after SIPI)\n"
    .globl  ap_flag
ap_flag:
    .byte   NO_AP

    .text
    .code64
    .globl  start64
start64:
    mov     %rsi, %r15                  /* boot_params */
    lea     stack_top(%rip), %rsp
    lea     hello(%rip), %rsi
    call    puts
    lea     cmdline_msg(%rip), %rsi
    call    puts
    mov     BP_CMD_LINE_PTR(%r15), %esi
    call    puts
    mov     $'\n', %al
    call    putc
    lea     e820_msg(%rip), %rsi
    call    puts
    movzbl  BP_E820_ENTRIES(%r15), %eax
    call    putdec
    mov     $'\n', %al
    call    putc

    mov     $LAPIC_SVR, %edi            /* software-enable the local APIC */
    orl     $0x100, (%rdi)

    /* Walk the MP table: EBDA segment at 0x40e, "_MP_" there, then "PCMP". */
    movzwl  0x40e, %ebx
    shl     $4, %ebx
    cmpl    $0x5f504d5f, (%rbx)
    jne     no_mp
    mov     4(%rbx), %ebx               /* configuration table */
    movzwl  0x22(%rbx), %ecx            /* entry count */
    lea     0x2c(%rbx), %rbx
    mov     $1, %r14d                   /* vCPUs up, counting the boot one */
next_entry:
    test    %ecx, %ecx
    jz      all_started
    cmpb    $0, (%rbx)
    jne     other_entry
    testb   $2, 3(%rbx)                 /* the boot processor: already running */
    jnz     cpu_done
    movzbl  1(%rbx), %eax
    call    start_ap
    inc     %r14d
cpu_done:
    add     $20, %rbx
    dec     %ecx
    jmp     next_entry
other_entry:
    add     $8, %rbx
    dec     %ecx
    jmp     next_entry

no_mp:
    lea     no_mp_msg(%rip), %rsi
    call    puts
all_started:
    lea     done_msg(%rip), %rsi
    call    puts
    mov     %r14d, %eax
    call    putdec
    lea     done_msg2(%rip), %rsi
    call    puts
    mov     $0xfe, %al                  /* i8042 reset */
    out     %al, $0x64
1:  hlt
    jmp     1b

/* Start the AP whose APIC id is %eax with INIT + SIPI (vector 3: 0x3000), wait. */
start_ap:
    push    %rcx
    movb    $NO_AP, ap_flag
    mov     %eax, %edx
    shl     $24, %edx
    mov     $LAPIC_ICR_HIGH, %edi
    mov     %edx, (%rdi)
    mov     $LAPIC_ICR_LOW, %edi
    movl    $0x4500, (%rdi)             /* INIT, assert */
    mov     $LAPIC_ICR_HIGH, %edi
    mov     %edx, (%rdi)
    mov     $LAPIC_ICR_LOW, %edi
    movl    $0x4603, (%rdi)             /* STARTUP, vector 3 */
    mov     $20000000, %ecx
1:  cmpb    %al, ap_flag
    je      2f
    pause
    dec     %ecx
    jnz     1b
    lea     timeout_msg(%rip), %rsi
    call    puts
2:  pop     %rcx
    ret

    .include "serial64.S"

    .section .rodata
hello:
    .asciz  "long mode guest: hello from 64-bit mode on the boot vCPU\n"
cmdline_msg:
    .asciz  "long mode guest: command line: "
e820_msg:
    .asciz  "long mode guest: e820 entries: "
no_mp_msg:
    .asciz  "long mode guest: no MP table\n"
timeout_msg:
    .asciz  "long mode guest: an AP did not come up\n"
done_msg:
    .asciz  "long mode guest: "
done_msg2:
    .asciz  " vCPUs up, resetting\n"

    .bss
    .balign 16
    .skip   4096
stack_top:
