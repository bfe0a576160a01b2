/* A polling XenStore client on the xenstore_domain_interface ring (xs_wire.h): one request at
 * a time, watch events set aside until asked for. Every transport failure is a check failure. */
#ifndef XEN_ABI_XS_CLIENT_H
#define XEN_ABI_XS_CLIENT_H

#include "abi.h"

struct xs_reply {
    uint32_t type;               /* the request's type, or XS_ERROR */
    uint32_t len;
    char body[XENSTORE_PAYLOAD_MAX + 1];  /* NUL-terminated copy of the payload */
};

/* A request payload: NUL-terminated strings appended one after another. */
struct xs_payload {
    char buf[512];
    uint32_t len;
};
void xs_payload_init(struct xs_payload *p);
void xs_arg(struct xs_payload *p, const char *s);  /* appends s and its NUL */
void xs_raw(struct xs_payload *p, const char *s);  /* appends s without a NUL (XS_WRITE values) */

/* Reads HVM_PARAM_STORE_PFN / STORE_EVTCHN (checked) and attaches to the ring. */
void xs_attach(void);
evtchn_port_t xs_port(void);
volatile struct xenstore_domain_interface *xs_ring(void);

/* Sends one request and waits for its reply (bounded); watch events met meanwhile are queued. */
void xs_request(uint32_t type, uint32_t tx, const struct xs_payload *p, struct xs_reply *reply);
/* A request that must succeed with an "OK" reply. */
void xs_expect_ok(uint32_t type, uint32_t tx, const struct xs_payload *p, const char *what);
/* A request that must fail with the named error ("ENOENT", "EACCES", ...). */
void xs_expect_error(uint32_t type, uint32_t tx, const struct xs_payload *p, const char *err,
                     const char *what);

/* Queued watch events: their number, and the oldest one (0 if none). */
unsigned xs_events_queued(void);
int xs_take_event(char *path, size_t path_size, char *token, size_t token_size);
/* A round trip after which every event caused by earlier requests has arrived. */
void xs_sync(void);

#endif
