/*
 * edge_http.c - plain HTTP on the edge's port: GET /healthz; every other
 * path that is not a WebSocket endpoint gets 404.
 */
#include <string.h>

#include "edge.h"

/* Sends a whole small response. Returns what the callback should return. */
static int
s_respond(struct lws *wsi, unsigned int status, const char *type, const char *body)
{
    unsigned char buf[LWS_PRE + 1024];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    size_t n = strlen(body);
    if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t) n, &p, end)
        || lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    if (n && lws_write(wsi, (unsigned char *) body, n, LWS_WRITE_HTTP_FINAL) != (int) n)
        return 1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int
edge_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    if (reason != LWS_CALLBACK_HTTP)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    const char *path = in;
    if (strcmp(path, "/healthz") == 0)
        return s_respond(wsi, HTTP_STATUS_OK, "text/plain", "ok\n");
    return s_respond(wsi, HTTP_STATUS_NOT_FOUND, "application/json",
                     "{\"error\":\"not_found\"}\n");
}
