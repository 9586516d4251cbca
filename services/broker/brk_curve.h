/*
 * brk_curve.h - the broker as a CURVE server. Its three sockets take the
 * broker's certificate; a ZAP handler (czmq's zauth actor) admits only
 * clients whose public certificate is in the allow-list directory (read
 * again when it changes, for new connections); a monitor on each socket
 * counts and logs the handshakes refused (plaintext peers, unknown keys,
 * wrong server key). No key material is ever logged.
 */
#ifndef BRK_CURVE_H
#define BRK_CURVE_H

#include <czmq.h>
#include <stdint.h>

#define BRK_CURVE_SOCKS 3 /* sockets one broker serves */

typedef struct brk_curve_t brk_curve_t;

/* Starts the ZAP handler. cert (borrowed, must outlive the object) is the
 * broker's key pair; clients the directory of authorized client public
 * certificates, or "*" to admit any client key (encryption without client
 * authentication). NULL on failure (logged). */
brk_curve_t *brk_curve_new(zcert_t *cert, const char *clients);
void brk_curve_destroy(brk_curve_t **self_p);

/* Makes sock, not yet bound, a CURVE server and watches its handshakes;
 * name labels its log lines. NULL self: nothing to do (0). Returns 0 or -1
 * (logged; also past BRK_CURVE_SOCKS sockets). */
int brk_curve_serve(brk_curve_t *self, zsock_t *sock, const char *name);

/* Fills up to max poll items (POLLIN on the monitors); returns how many.
 * NULL self: 0. */
int brk_curve_pollitems(brk_curve_t *self, zmq_pollitem_t *items, int max);

/* Reads the handshake events waiting on the monitors without blocking and
 * logs the refusals (the first ten, then at powers of two). */
void brk_curve_drain(brk_curve_t *self);

/* Handshakes refused so far; borrowed counter (for stats). */
const uint64_t *brk_curve_denied(brk_curve_t *self);

#endif /* BRK_CURVE_H */
