/*
 * brk_proxy.h - the event proxy: XSUB (publishers connect) to XPUB
 * (subscribers connect), subscriptions forwarded upstream. Events pass
 * through opaque; receivers validate them.
 */
#ifndef BRK_PROXY_H
#define BRK_PROXY_H

#include <czmq.h>

#include "brk_curve.h"

typedef struct {
    zsock_t *xsub;          /* bound events-in; owned */
    zsock_t *xpub;          /* bound events-out; owned */
    uint64_t events;        /* events forwarded downstream */
    uint64_t subscriptions; /* subscription messages forwarded upstream */
} brk_proxy_t;

/* Binds both sockets, as CURVE servers when curve is not NULL (borrowed).
 * Returns 0, or -1 (logged) with nothing left open. */
int brk_proxy_bind(brk_proxy_t *self, const char *events_in, const char *events_out,
                   brk_curve_t *curve);
void brk_proxy_close(brk_proxy_t *self);

/* Forwards what is waiting, at most batch messages per direction. */
void brk_proxy_pump_down(brk_proxy_t *self, int batch);
void brk_proxy_pump_up(brk_proxy_t *self, int batch);

#endif /* BRK_PROXY_H */
