/*
 * startup.c: reset and fault handling for the cortex-m4 board.
 *
 * The vector table (the first words of flash) gives the initial stack
 * pointer and the reset handler. Reset turns on the FPU, copies .data from
 * flash to RAM, and enters newlib's start-up (_start of rdimon-crt0: zeroes
 * .bss, sets up the heap, reads the command line by semihosting, calls
 * main and exits with its status). A fault ends the program through
 * semihosting with a failing status instead of hanging the emulator.
 */
#include <stdint.h>

extern uint32_t __data_load__[], __data_start__[], __data_end__[], __stack_top__[];
extern void _start(void);

void kiln_reset(void);
void kiln_fault(void);

void kiln_reset(void)
{
    /* CPACR: full access to the FPU (coprocessors 10 and 11) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (uint32_t *s = __data_load__, *d = __data_start__; d < __data_end__;)
        *d++ = *s++;
    _start();
    for (;;)
        ;
}

void kiln_fault(void)
{
    /* SYS_EXIT (0x18) with ADP_Stopped_RunTimeErrorUnknown: qemu exits 1 */
    register uint32_t op __asm("r0") = 0x18;
    register uint32_t reason __asm("r1") = 0x20023;
    __asm volatile("bkpt 0xab" ::"r"(op), "r"(reason) : "memory");
    for (;;)
        ;
}

/* initial SP, reset, NMI, HardFault, MemManage, BusFault, UsageFault */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top__, kiln_reset, kiln_fault, kiln_fault, kiln_fault, kiln_fault, kiln_fault,
};
