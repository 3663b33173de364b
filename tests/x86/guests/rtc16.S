/*
 * Real-mode test guest for the CMOS RTC: prints registers A and D, switches the
 * clock to binary 24-hour mode through register B, prints the time (read seconds
 * first and again last, retrying if a second ticked in between, as Linux does),
 * then resets through the i8042.
 */
    .code16
    .text
    .globl _start
_start:
    cli
    mov     %cs, %ax
    mov     %ax, %ds
    mov     $reg_a, %si
    call    puts
    mov     $0x8a, %al              /* register A, with the NMI-disable bit */
    call    cmos_dec
    mov     $reg_d, %si
    call    puts
    mov     $0x0d, %al
    call    cmos_dec
    mov     $0x0b, %al              /* register B = DM binary | 24-hour */
    out     %al, $0x70
    mov     $0x06, %al
    out     %al, $0x71
again:
    xor     %al, %al                /* seconds */
    call    cmos
    mov     %al, seconds
    mov     $0x02, %al
    call    cmos
    mov     %al, minutes
    mov     $0x04, %al
    call    cmos
    mov     %al, hours
    xor     %al, %al
    call    cmos
    cmp     seconds, %al
    jne     again
    mov     $time, %si
    call    puts
    mov     hours, %al
    call    putdec8
    mov     $':', %al
    call    putc
    mov     minutes, %al
    call    putdec8
    mov     $':', %al
    call    putc
    mov     seconds, %al
    call    putdec8
    mov     $'\n', %al
    call    putc
    mov     $0xfe, %al
    out     %al, $0x64
1:  hlt
    jmp     1b

/* Read CMOS register %al into %al. */
cmos:
    out     %al, $0x70
    in      $0x71, %al
    ret

/* Print CMOS register %al in decimal. */
cmos_dec:
    call    cmos
/* Print %al in decimal. */
putdec8:
    xor     %ah, %ah
    jmp     putdec

    .include "serial16.S"

seconds: .byte 0
minutes: .byte 0
hours:   .byte 0
reg_a:
    .asciz  "rtc guest: A="
reg_d:
    .asciz  " D="
time:
    .asciz  " time="
