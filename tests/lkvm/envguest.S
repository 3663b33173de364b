// A kvm-unit-tests-shaped arm64 guest for vmm-lkvm: a flat binary (no Image
// header) entered with x0 = the device tree. It reports what the VMM gave it on
// the 8250 UART at UART_BASE (--defsym) and powers off through PSCI SYSTEM_OFF:
//
//   bootargs: <the /chosen bootargs>
//   cpus: <the number of /cpus/cpu@ nodes>
//   pmu: <ID_AA64DFR0_EL1.PMUVer>
//   env: <line>            one per line of the initrd (KEY=VAL lines)
//   EXIT: STATUS=<n>       n = the initrd's STATUS=, else 1
//
// Assembled with llvm-mc, made flat with llvm-objcopy (tests/lkvm/envguest.py).

        .text
        .globl  _start
_start:
        adr     x1, stack_top           // the MMU is off: memory is Device, so the
        mov     sp, x1                  // stack and every load stay aligned
        mov     x19, x0                 // x19: the device tree
        ldr     x20, =UART_BASE         // x20: the UART
        mov     x21, #0                 // x21: initrd start
        mov     x22, #0                 // x22: initrd end
        mov     x23, #0                 // x23: cpu nodes
        mov     x24, #0                 // x24: bootargs (0: none)
        ldr     w0, [x19, #8]           // off_dt_struct
        rev     w0, w0
        add     x25, x19, x0            // x25: cursor in the structure block
        ldr     w0, [x19, #12]          // off_dt_strings
        rev     w0, w0
        add     x26, x19, x0            // x26: the strings block

walk:   ldr     w0, [x25], #4
        rev     w0, w0
        cmp     w0, #1                  // FDT_BEGIN_NODE: name, NUL, padding
        b.eq    begin_node
        cmp     w0, #3                  // FDT_PROP: len, nameoff, value, padding
        b.eq    property
        cmp     w0, #9                  // FDT_END
        b.eq    walked
        b       walk                    // FDT_END_NODE, FDT_NOP

begin_node:
        mov     x0, x25
        adr     x1, cpu_prefix
        bl      has_prefix
        add     x23, x23, x0
1:      ldrb    w0, [x25], #1           // skip the name and its NUL
        cbnz    w0, 1b
        add     x25, x25, #3
        and     x25, x25, #~3
        b       walk

property:
        ldr     w27, [x25], #4          // x27: value length
        rev     w27, w27
        ldr     w28, [x25], #4          // nameoff
        rev     w28, w28
        add     x28, x26, x28           // x28: the property's name
        mov     x0, x28
        adr     x1, name_bootargs
        bl      streq
        cbz     x0, 1f
        mov     x24, x25
1:      mov     x0, x28
        adr     x1, name_initrd_start
        bl      streq
        cbz     x0, 2f
        bl      read_cell_value
        mov     x21, x0
2:      mov     x0, x28
        adr     x1, name_initrd_end
        bl      streq
        cbz     x0, 3f
        bl      read_cell_value
        mov     x22, x0
3:      add     x25, x25, x27           // skip the value and its padding
        add     x25, x25, #3
        and     x25, x25, #~3
        b       walk

walked: adr     x0, text_bootargs
        bl      puts
        cbz     x24, 1f
        mov     x0, x24
        bl      puts
1:      bl      newline
        adr     x0, text_cpus
        bl      puts
        mov     x0, x23
        bl      put_decimal
        bl      newline
        adr     x0, text_pmu
        bl      puts
        mrs     x0, id_aa64dfr0_el1
        ubfx    x0, x0, #8, #4
        bl      put_decimal
        bl      newline

        mov     x23, #1                 // x23 from here: the exit status
        mov     x24, x21                // x24: start of the current line
lines:  cmp     x24, x22
        b.hs    done
        adr     x0, text_env
        bl      puts
        mov     x0, x24
        adr     x1, status_key
        bl      has_prefix
        cbz     x0, echo
        add     x0, x24, #7             // the digits after STATUS=
        bl      read_decimal
        mov     x23, x0
echo:   cmp     x24, x22
        b.hs    1f
        ldrb    w0, [x24], #1
        cmp     w0, #10
        b.eq    1f
        bl      putc
        b       echo
1:      bl      newline
        b       lines

done:   adr     x0, text_exit
        bl      puts
        mov     x0, x23
        bl      put_decimal
        bl      newline
        ldr     x0, =0x84000008         // PSCI SYSTEM_OFF
        hvc     #0
        b       .

// x0 = the value of the property at x25 (length x27): one or two big-endian cells.
read_cell_value:
        ldr     w0, [x25]
        rev     w0, w0
        cmp     x27, #8
        b.ne    1f
        ldr     w1, [x25, #4]
        rev     w1, w1
        orr     x0, x1, x0, lsl #32
1:      ret

// x0 = 1 if the NUL-terminated strings at x0 and x1 are equal, else 0.
streq:  ldrb    w2, [x0], #1
        ldrb    w3, [x1], #1
        cmp     w2, w3
        b.ne    1f
        cbnz    w2, streq
        mov     x0, #1
        ret
1:      mov     x0, #0
        ret

// x0 = 1 if the bytes at x0 start with the NUL-terminated string at x1, else 0.
has_prefix:
        ldrb    w3, [x1], #1
        cbz     w3, 1f
        ldrb    w2, [x0], #1
        cmp     w2, w3
        b.eq    has_prefix
        mov     x0, #0
        ret
1:      mov     x0, #1
        ret

// x0 = the decimal number at x0 (up to the first non-digit).
read_decimal:
        mov     x1, x0
        mov     x0, #0
        mov     x3, #10
1:      ldrb    w2, [x1], #1
        sub     w2, w2, #'0'
        cmp     w2, #9
        b.hi    2f
        madd    x0, x0, x3, x2
        b       1b
2:      ret

// Print x0 in decimal.
put_decimal:
        mov     x9, x30
        mov     x1, sp
        sub     sp, sp, #32
        mov     x3, #10
1:      udiv    x2, x0, x3
        msub    x4, x2, x3, x0
        add     w4, w4, #'0'
        strb    w4, [x1, #-1]!
        mov     x0, x2
        cbnz    x0, 1b
        mov     x10, x1
2:      ldrb    w0, [x10], #1
        bl      putc
        add     x11, sp, #32
        cmp     x10, x11
        b.lo    2b
        add     sp, sp, #32
        ret     x9

// Print the NUL-terminated string at x0.
puts:   mov     x9, x30
        mov     x10, x0
1:      ldrb    w0, [x10], #1
        cbz     w0, 2f
        bl      putc
        b       1b
2:      ret     x9

newline:
        mov     w0, #10
putc:   strb    w0, [x20]
        ret

cpu_prefix:         .asciz "cpu@"
name_bootargs:      .asciz "bootargs"
name_initrd_start:  .asciz "linux,initrd-start"
name_initrd_end:    .asciz "linux,initrd-end"
status_key:         .asciz "STATUS="
text_bootargs:      .asciz "bootargs: "
text_cpus:          .asciz "cpus: "
text_pmu:           .asciz "pmu: "
text_env:           .asciz "env: "
text_exit:          .asciz "EXIT: STATUS="
        .balign 8
        .ltorg
        .balign 16
        .space  64
stack_top:
