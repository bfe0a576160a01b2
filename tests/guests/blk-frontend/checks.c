/* The blk-frontend guest's checks: one "blk-frontend: <what>: ..." line each on console_io, and
 * unlike xen-abi a mismatch does not stop the run, so one run reports every wrong status. */
#include "blkfront.h"

#include <xen/sched.h>

#define LINE 240

static unsigned total, passed;

/* Failures go to port 0xE9 too, in case console_io is what broke. */
static void emit(const char *line, size_t len, int ok)
{
    if (!ok)
        debugcon_write(line, len);
    xen_console_write(line, len);
}

static void report(int ok, const char *what, const char *detail)
{
    char line[LINE];
    total++;
    passed += ok ? 1u : 0u;
    size_t len = (size_t)rt_snprintf(line, sizeof(line), "blk-frontend: %s%s: %s\n", what, detail,
                                     ok ? "ok" : "FAIL");
    if (len >= sizeof(line))
        len = sizeof(line) - 1;
    emit(line, len, ok);
}

void check_true(int ok, const char *fmt, ...)
{
    char what[LINE / 2];
    va_list ap;
    va_start(ap, fmt);
    rt_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    report(ok, what, "");
}

void check_eq(long long got, long long want, const char *fmt, ...)
{
    char what[LINE / 2], detail[64];
    va_list ap;
    va_start(ap, fmt);
    rt_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    rt_snprintf(detail, sizeof(detail), ": got %lld, want %lld", got, want);
    report(got == want, what, detail);
}

void check_rsp(const struct blk_rsp *rsp, int16_t status, uint8_t op, const char *fmt, ...)
{
    char what[LINE / 2], detail[80];
    va_list ap;
    va_start(ap, fmt);
    rt_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    rt_snprintf(detail, sizeof(detail), ": got status %d op %u, want status %d op %u", rsp->status,
                rsp->operation, status, op);
    report(rsp->status == status && rsp->operation == op, what, detail);
}

void say(const char *fmt, ...)
{
    char line[LINE];
    va_list ap;
    va_start(ap, fmt);
    size_t len = rt_vformat(line, sizeof(line), fmt, ap);
    va_end(ap);
    xen_console_write(line, len);
}

static void summary(void)
{
    say("blk-frontend: %u of %u checks passed (" KXEN_RT_BITS ")\n", passed, total);
}

void fatal(const char *fmt, ...)
{
    char what[LINE / 2], line[LINE];
    va_list ap;
    va_start(ap, fmt);
    rt_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    size_t len = (size_t)rt_snprintf(line, sizeof(line), "blk-frontend: FATAL: %s\n", what);
    if (len >= sizeof(line))
        len = sizeof(line) - 1;
    emit(line, len, 0);
    summary();
    rt_fail("blk-frontend: a setup step failed");
}

void finish(void)
{
    summary();
    if (passed != total)
        rt_fail("blk-frontend: a check failed");
    xen_shutdown(SHUTDOWN_poweroff);
    rt_fail("SCHEDOP_shutdown(poweroff) returned");
}

/* ---- time: the TSC at CPUID's rate (kHz = ticks per millisecond, so no 64-bit division) ---- */
static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t tsc_khz(void)
{
    static uint32_t khz;
    if (khz == 0) {
        uint32_t a, b, c, d;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(hypercall_cpuid_base() + 3), "c"(0));
        /* No rate stated: assume 1 GHz, which only makes waits longer on a faster TSC. */
        khz = c != 0 ? c : 1000000u;
    }
    return khz;
}

uint64_t deadline_after(unsigned ms) { return rdtsc() + (uint64_t)ms * tsc_khz(); }

int deadline_passed(uint64_t deadline)
{
    if ((int64_t)(rdtsc() - deadline) >= 0)
        return 1;
    xen_yield();
    return 0;
}
