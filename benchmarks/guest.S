/*
 * The benchmark guest: one 64 KiB real-mode image that runs unchanged under vmm
 * (a flat binary loaded at 1000:0000, entered at IP 0) and under QEMU (a -bios
 * image mapped below 4 GiB, entered at the reset vector F000:FFF0, whose near jump
 * lands at IP 0 of the same 64 KiB segment). Every address the code uses is an
 * offset in its own code segment or a fixed low RAM address, so both entries work.
 *
 * Assembled by benchmarks/guests.py with --defsym KIND=<n> --defsym COUNT=<n>:
 *   KIND_EMPTY  print the marker and shut down
 *   KIND_PIO    then COUNT port-I/O writes to an unclaimed port
 *   KIND_MMIO   then COUNT stores to an unclaimed MMIO address (unreal mode)
 *   KIND_LOOP   then the same loop as KIND_PIO with a NOP instead of the OUT,
 *               so that the loop's own cost can be subtracted from the exits'
 * Shut-down: 0xfe to the i8042 command port (vmm's reset), then a write to
 * isa-debug-exit (QEMU); whichever is absent ignores its write.
 */

        .set KIND_EMPTY, 0
        .set KIND_PIO, 1
        .set KIND_MMIO, 2
        .set KIND_LOOP, 3

        .set SERIAL_THR, 0x3f8
        .set I8042_COMMAND, 0x64
        .set I8042_RESET, 0xfe
        .set DEBUG_EXIT_PORT, 0xf4
        .set BENCH_PORT, 0x0ee0        /* claimed by neither VMM */
        .set BENCH_MMIO, 0xd0000000    /* claimed by neither VMM */
        .set GDT_COPY, 0x600           /* low RAM both VMMs have */
        .set FLAT_DATA_SELECTOR, 8

        .code16
        .text
        .globl start
start:
        cli
        cld
        xorw    %ax, %ax
        movw    %ax, %ss
        movw    $0x7000, %sp
        movw    %ax, %ds
        movw    %ax, %es

        movw    $SERIAL_THR, %dx
        movw    $marker, %si
print:
        lodsb   %cs:(%si), %al
        testb   %al, %al
        jz      printed
        outb    %al, %dx
        jmp     print
printed:

.if KIND == KIND_PIO
        movl    $COUNT, %ecx
        movw    $BENCH_PORT, %dx
pio_loop:
        outb    %al, %dx
        decl    %ecx
        jnz     pio_loop
.endif

.if KIND == KIND_LOOP
        movl    $COUNT, %ecx
        movw    $BENCH_PORT, %dx
nop_loop:
        nop
        decl    %ecx
        jnz     nop_loop
.endif

.if KIND == KIND_MMIO
        /* Unreal mode: a flat 4 GiB data segment cached in DS, back in real mode. */
        movw    $GDT_COPY, %di
        movw    $gdt, %si
        movw    $(gdt_end - gdt) / 2, %cx
        rep movsw %cs:(%si), %es:(%di)
        lgdtl   GDT_COPY
        movl    %cr0, %eax
        orb     $1, %al
        movl    %eax, %cr0
        movw    $FLAT_DATA_SELECTOR, %bx
        movw    %bx, %ds
        andb    $0xfe, %al
        movl    %eax, %cr0
        xorw    %bx, %bx
        movw    %bx, %ds

        movl    $COUNT, %ecx
        movl    $BENCH_MMIO, %ebx
mmio_loop:
        movb    %al, (%ebx)
        decl    %ecx
        jnz     mmio_loop
.endif

        movb    $I8042_RESET, %al
        outb    %al, $I8042_COMMAND
        xorb    %al, %al
        outb    %al, $DEBUG_EXIT_PORT
halt:
        hlt
        jmp     halt

marker:
        .asciz  "vmm-bench: ready\n"

        .balign 8
gdt:    /* the null descriptor doubles as the GDTR image (limit, base) */
        .word   gdt_end - gdt - 1
        .long   GDT_COPY
        .word   0
        /* flat data: base 0, limit 4 GiB, writable, 32-bit, 4 KiB granularity */
        .word   0xffff, 0
        .byte   0, 0x92, 0xcf, 0
gdt_end:

        /* QEMU's reset vector: F000:FFF0 is the last 16 bytes of the image. */
        . = 0xfff0
reset_vector:
        jmp     start
        . = 0x10000
