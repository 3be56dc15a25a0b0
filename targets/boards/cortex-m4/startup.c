/*
 * startup.c: reset and fault handling for the cortex-m4 board.
 *
 * The vector table (the first words of flash) gives the initial stack
 * pointer, the top of RAM, and the reset handler. Reset turns on the FPU,
 * copies .data from flash to RAM, zeroes .bss, opens the semihosting
 * standard streams (newlib's rdimon), reads the command line by
 * semihosting and calls main, then exit with its status: qemu exits with
 * it. newlib's own start-up (rdimon-crt0) is not used: it would move the
 * stack and heap to wherever the emulator says there is memory, beyond the
 * board's RAM, and it cuts the command line at 255 bytes.
 *
 * The heap grows from the end of .bss towards the stack (newlib's _sbrk
 * refuses to pass the stack pointer). A fault ends the program through
 * semihosting with a failing status instead of hanging the emulator.
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__[], __data_start__[], __data_end__[], __bss_start__[], __bss_end__[],
    __stack_top__[];
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(int argc, char **argv);

void kiln_reset(void);
void kiln_fault(void);
void _init(void);
void _fini(void);

/* Called by __libc_init_array and exit: nothing to do here. */
void _init(void) {}
void _fini(void) {}

/* A semihosting call: operation op with argument block arg. */
static int semihost(int op, void *arg)
{
    register int r0 __asm("r0") = op;
    register void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

enum { MAX_CMDLINE = 4096, MAX_ARGS = 160 };
static char cmdline[MAX_CMDLINE];
static char *args[MAX_ARGS + 1];

void kiln_reset(void)
{
    /* CPACR: full access to the FPU (coprocessors 10 and 11) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (uint32_t *s = __data_load__, *d = __data_start__; d < __data_end__;)
        *d++ = *s++;
    for (uint32_t *d = __bss_start__; d < __bss_end__;)
        *d++ = 0;
    initialise_monitor_handles();
    __libc_init_array();
    /* SYS_GET_CMDLINE: the arguments, separated by spaces */
    struct {
        char *buf;
        int len;
    } block = {cmdline, MAX_CMDLINE - 1};
    int argc = 0;
    if (semihost(0x15, &block) == 0) {
        cmdline[block.len < MAX_CMDLINE ? block.len : MAX_CMDLINE - 1] = 0;
        for (char *p = cmdline; *p && argc < MAX_ARGS;) {
            while (*p == ' ')
                *p++ = 0;
            if (!*p)
                break;
            args[argc++] = p;
            while (*p && *p != ' ')
                p++;
        }
    }
    args[argc] = 0;
    exit(main(argc, args));
}

void kiln_fault(void)
{
    /* SYS_EXIT (0x18) with ADP_Stopped_RunTimeErrorUnknown: qemu exits 1 */
    semihost(0x18, (void *)0x20023);
    for (;;)
        ;
}

/* initial SP, reset, NMI, HardFault, MemManage, BusFault, UsageFault */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top__, kiln_reset, kiln_fault, kiln_fault, kiln_fault, kiln_fault, kiln_fault,
};
