/* The xen-abi guest's checks: every result is compared with what Xen documents, one "ok" line
 * per check on the console, and the first mismatch ends the domain (SHUTDOWN_crash). */
#include "abi.h"

#define LINE_MAX 240

static unsigned passed;

unsigned checks_passed(void) { return passed; }

/* Prints on both sinks, so a failure is visible even if console_io is what broke. */
static void say_everywhere(const char *line, size_t len)
{
    debugcon_write(line, len);
    if (hypercall_transport() != HCALL_NONE)
        xen_console_write(line, len);
}

static void vformat_what(char *what, const char *fmt, va_list ap)
{
    rt_vformat(what, LINE_MAX / 2, fmt, ap);
}

static void pass(const char *what)
{
    passed++;
    char line[LINE_MAX];
    size_t len = (size_t)rt_snprintf(line, sizeof(line), "ok %u %s\n", passed, what);
    if (len >= sizeof(line))
        len = sizeof(line) - 1;
    xen_console_write(line, len);
}

__attribute__((noreturn)) static void fail_line(const char *line)
{
    say_everywhere(line, rt_strlen(line));
    rt_fail("xen-abi: a check failed");
}

void abi_fail(const char *fmt, ...)
{
    char what[LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vformat_what(what, fmt, ap);
    va_end(ap);
    char line[LINE_MAX];
    rt_snprintf(line, sizeof(line), "FAIL: %s\n", what);
    fail_line(line);
}

void expect_eq(long long got, long long want, const char *fmt, ...)
{
    char what[LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vformat_what(what, fmt, ap);
    va_end(ap);
    if (got == want) {
        pass(what);
        return;
    }
    char line[LINE_MAX];
    rt_snprintf(line, sizeof(line), "FAIL: %s got %lld want %lld\n", what, got, want);
    fail_line(line);
}

void expect_ne(long long got, long long unwanted, const char *fmt, ...)
{
    char what[LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vformat_what(what, fmt, ap);
    va_end(ap);
    if (got != unwanted) {
        pass(what);
        return;
    }
    char line[LINE_MAX];
    rt_snprintf(line, sizeof(line), "FAIL: %s got %lld want anything but %lld\n", what, got, unwanted);
    fail_line(line);
}

void expect_true(int cond, const char *fmt, ...)
{
    char what[LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vformat_what(what, fmt, ap);
    va_end(ap);
    if (cond) {
        pass(what);
        return;
    }
    char line[LINE_MAX];
    rt_snprintf(line, sizeof(line), "FAIL: %s got 0 want 1\n", what);
    fail_line(line);
}

void expect_str(const char *got, const char *want, const char *fmt, ...)
{
    char what[LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vformat_what(what, fmt, ap);
    va_end(ap);
    if (str_eq(got, want)) {
        pass(what);
        return;
    }
    char line[LINE_MAX];
    rt_snprintf(line, sizeof(line), "FAIL: %s got \"%s\" want \"%s\"\n", what, got, want);
    fail_line(line);
}

void note(const char *fmt, ...)
{
    char line[LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t len = rt_vformat(line, sizeof(line), fmt, ap);
    va_end(ap);
    xen_console_write(line, len);
}

int str_eq(const char *a, const char *b)
{
    size_t n = rt_strlen(a);
    return n == rt_strlen(b) && memcmp(a, b, n) == 0;
}

long parse_decimal(const char *s)
{
    long v = 0;
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}
