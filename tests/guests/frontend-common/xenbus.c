/* XenStore for the frontend guests: string reads and writes through the xen-abi client, numbers,
 * and polling a device's state node. */
#include "frontend.h"
#include "../xen-abi/xs_client.h"

#define STATE_WAIT_MS 10000u

static struct xs_reply reply;

int xs_read_str(const char *path, char *out, size_t size)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, path);
    xs_request(XS_READ, 0, &p, &reply);
    if (reply.type != XS_READ || reply.len >= size)
        return 0;
    memcpy(out, reply.body, reply.len + 1);
    return 1;
}

void xs_write_str(const char *path, const char *value)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, path);
    xs_raw(&p, value);
    xs_request(XS_WRITE, 0, &p, &reply);
    if (reply.type != XS_WRITE)
        fatal("XS_WRITE %s = %s: %s", path, value, reply.body);
}

void xs_write_number(const char *path, unsigned long value)
{
    char text[24];
    rt_snprintf(text, sizeof(text), "%lu", value);
    xs_write_str(path, text);
}

void xs_remove(const char *path)
{
    struct xs_payload p;
    xs_payload_init(&p);
    xs_arg(&p, path);
    xs_request(XS_RM, 0, &p, &reply);
    if (reply.type != XS_RM && !str_eq(reply.body, "ENOENT"))
        fatal("XS_RM %s: %s", path, reply.body);
}

int contains(const char *haystack, const char *needle)
{
    size_t n = rt_strlen(needle), len = rt_strlen(haystack);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(haystack + i, needle, n) == 0)
            return 1;
    return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > 0x0ccccccccccccccbull)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 1;
}

uint64_t xs_read_number(const char *path, uint64_t fallback)
{
    char value[32];
    uint64_t v;
    if (!xs_read_str(path, value, sizeof(value)) || !parse_u64(value, &v))
        return fallback;
    return v;
}

static unsigned read_state(const char *dir)
{
    char path[160];
    rt_snprintf(path, sizeof(path), "%s/state", dir);
    return (unsigned)xs_read_number(path, 0);
}

unsigned wait_state(const char *dir, unsigned want)
{
    unsigned state = read_state(dir);
    for (uint64_t end = deadline_after(STATE_WAIT_MS); state != want && !deadline_passed(end);)
        state = read_state(dir);
    return state;
}
