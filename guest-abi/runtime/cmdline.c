/* Command-line word matching, kept free of hardware access so host unit tests can run it. */
#include "kxen_rt.h"

/* Compares the n-byte word at `w` with the NUL-terminated token of length n. */
static int word_equals(const char *w, size_t n, const char *token)
{
    for (size_t i = 0; i < n; i++) {
        if (w[i] != token[i])
            return 0;
    }
    return 1;
}

int rt_cmdline_word(const char *line, const char *token)
{
    size_t n = rt_strlen(token);
    if (n == 0)
        return 0;
    const char *p = line;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t w = 0;
        while (p[w] != '\0' && p[w] != ' ' && p[w] != '\t')
            w++;
        if (w == n && word_equals(p, n, token))
            return 1;
        p += w;
    }
    return 0;
}

size_t rt_strlen(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}
