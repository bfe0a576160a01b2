/* Check reporting for the frontend guests: one "<fe_name>: <what>: ..." line per check on
 * console_io, a summary at the end, and TSC-based deadlines. */
#include "frontend.h"

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

void check_report(int ok, const char *what, const char *detail)
{
    char line[LINE];
    total++;
    passed += ok ? 1u : 0u;
    size_t len = (size_t)rt_snprintf(line, sizeof(line), "%s: %s%s: %s\n", fe_name, what, detail,
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
    check_report(ok, what, "");
}

void check_eq(long long got, long long want, const char *fmt, ...)
{
    char what[LINE / 2], detail[64];
    va_list ap;
    va_start(ap, fmt);
    rt_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    rt_snprintf(detail, sizeof(detail), ": got %lld, want %lld", got, want);
    check_report(got == want, what, detail);
}

static void summary(void)
{
    note("%s: %u of %u checks passed (" KXEN_RT_BITS ")\n", fe_name, passed, total);
}

void fatal(const char *fmt, ...)
{
    char what[LINE / 2], line[LINE];
    va_list ap;
    va_start(ap, fmt);
    rt_vformat(what, sizeof(what), fmt, ap);
    va_end(ap);
    size_t len = (size_t)rt_snprintf(line, sizeof(line), "%s: FATAL: %s\n", fe_name, what);
    if (len >= sizeof(line))
        len = sizeof(line) - 1;
    emit(line, len, 0);
    summary();
    rt_fail("frontend guest: a setup step failed");
}

void finish(void)
{
    summary();
    if (passed != total)
        rt_fail("frontend guest: a check failed");
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
