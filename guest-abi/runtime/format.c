/* printf-lite: enough formatting for test output, no floating point, no 64-bit division
 * (the 32-bit flavour links without libgcc). */
#include "kxen_rt.h"

struct out {
    char *buf;
    size_t size;
    size_t len;   /* characters produced so far, even past size */
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

/* Divides *v by 10 in 16-bit limbs so no __udivdi3 is needed; returns the remainder. */
static unsigned div10(uint64_t *v)
{
    uint64_t q = 0;
    uint32_t rem = 0;
    for (int shift = 48; shift >= 0; shift -= 16) {
        uint32_t cur = (rem << 16) | (uint32_t)((*v >> shift) & 0xffff);
        q |= (uint64_t)(cur / 10) << shift;
        rem = cur % 10;
    }
    *v = q;
    return rem;
}

struct spec {
    int width;
    char pad;
    int alt;
};

static void put_number(struct out *o, uint64_t v, unsigned base, int neg, struct spec s)
{
    char digits[24];
    int n = 0;
    /* As in C, "%#x" of zero is plain "0". */
    int prefix = neg ? 1 : (s.alt && base == 16 && v != 0 ? 2 : 0);
    do {
        unsigned d = base == 16 ? (unsigned)(v & 0xf) : div10(&v);
        if (base == 16)
            v >>= 4;
        digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    } while (v != 0);
    if (s.pad == '0') {
        if (neg) put(o, '-');
        if (prefix == 2) { put(o, '0'); put(o, 'x'); }
    }
    for (int w = n + prefix; w < s.width; w++)
        put(o, s.pad);
    if (s.pad != '0') {
        if (neg) put(o, '-');
        if (prefix == 2) { put(o, '0'); put(o, 'x'); }
    }
    while (n > 0)
        put(o, digits[--n]);
}

static void put_string(struct out *o, const char *str, struct spec s)
{
    if (str == NULL)
        str = "(null)";
    size_t n = rt_strlen(str);
    for (size_t w = n; w < (size_t)(s.width > 0 ? s.width : 0); w++)
        put(o, ' ');
    while (*str)
        put(o, *str++);
}

/* Reads an integer argument of the given length modifier (0: int, 1: long, 2: long long, 3: size_t). */
static uint64_t arg_unsigned(va_list *ap, int lmod)
{
    switch (lmod) {
    case 1: return va_arg(*ap, unsigned long);
    case 2: return va_arg(*ap, unsigned long long);
    case 3: return va_arg(*ap, size_t);
    default: return va_arg(*ap, unsigned int);
    }
}

static int64_t arg_signed(va_list *ap, int lmod)
{
    switch (lmod) {
    case 1: return va_arg(*ap, long);
    case 2: return va_arg(*ap, long long);
    case 3: return (int64_t)va_arg(*ap, size_t);
    default: return va_arg(*ap, int);
    }
}

static const char *parse_spec(const char *f, struct spec *s, int *lmod)
{
    *s = (struct spec){0, ' ', 0};
    for (;; f++) {
        if (*f == '#') s->alt = 1;
        else if (*f == '0') s->pad = '0';
        else break;
    }
    while (*f >= '0' && *f <= '9' && s->width < 64)
        s->width = s->width * 10 + (*f++ - '0');
    *lmod = 0;
    if (*f == 'z') { *lmod = 3; f++; }
    while (*f == 'l' && *lmod < 2) { (*lmod)++; f++; }
    return f;
}

static void convert(struct out *o, char c, struct spec s, int lmod, va_list *ap)
{
    switch (c) {
    case 'd': case 'i': {
        int64_t v = arg_signed(ap, lmod);
        put_number(o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, v < 0, s);
        break;
    }
    case 'u': put_number(o, arg_unsigned(ap, lmod), 10, 0, s); break;
    case 'x': put_number(o, arg_unsigned(ap, lmod), 16, 0, s); break;
    case 'p': s.alt = 1; put_number(o, (uintptr_t)va_arg(*ap, void *), 16, 0, s); break;
    case 's': put_string(o, va_arg(*ap, const char *), s); break;
    case 'c': put(o, (char)va_arg(*ap, int)); break;
    case '%': put(o, '%'); break;
    default: put(o, '%'); put(o, c); break;
    }
}

int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    va_list args;
    va_copy(args, ap);
    while (*fmt) {
        if (*fmt != '%') {
            put(&o, *fmt++);
            continue;
        }
        struct spec s;
        int lmod;
        fmt = parse_spec(fmt + 1, &s, &lmod);
        if (*fmt == '\0')
            break;
        convert(&o, *fmt++, s, lmod, &args);
    }
    va_end(args);
    if (size > 0)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

size_t rt_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
    int n = rt_vsnprintf(buf, size, fmt, ap);
    if (n < 0 || size == 0) return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = rt_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
