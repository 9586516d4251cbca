/*
 * edge_http.c - management HTTP on the edge's port.
 *
 *   GET    /healthz                      liveness, no token
 *   GET    /metrics                      Prometheus text of this edge
 *   GET    /ws/status                    cluster-wide status (every edge)
 *   GET    /ws/connection/{id}/health    a connection on any edge; 404 unknown
 *   POST   /ws/user/{id}/reconnect       every connection of the user, every edge
 *   DELETE /ws/connection/{id}           closes it, on whichever edge holds it
 *   GET    /, /<file>                    the dashboard's files from --www-dir
 *
 * Everything but /healthz needs an admin token (Authorization: Bearer):
 * 401 without a valid token, 403 for another role. The token is verified
 * and the action authorized by hm-auth (audited there); the operation then
 * asks every live edge over the bus ("edge.<id>") and answers when all
 * replied or failed. Nothing blocks the lws loop meanwhile.
 */
#include <string.h>
#include <unistd.h>

#include "edge.h"
#include "hm_clock.h"
#include "hm_ids.h"

enum { STEP_VERIFY = 1, STEP_AUTHORIZE, STEP_PEER };
enum { OP_NONE, OP_STATUS, OP_CONN_HEALTH, OP_RECONNECT, OP_DELETE, OP_METRICS };

struct edge_http {
    struct lws *wsi;            /* borrowed */
    char id[HM_UUID_STRLEN];    /* key in e->http while waiting */
    bool registered;
    int op;                     /* OP_* */
    char arg[64];               /* connection id or user id from the path */
    int outstanding;            /* peer replies still to come */
    json_t *acc;                /* peer replies gathered (array); owned */
    unsigned status;            /* response status, 0 while waiting */
    char *body;                 /* response body; owned */
    const char *ctype;          /* response content type */
};

size_t
edge_http_pss_size(void)
{
    return sizeof(edge_http_t);
}

static edge_t *
s_edge(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* Sets the response and asks for a writeable callback. */
static void
s_finish(edge_http_t *h, unsigned status, json_t *body)
{
    h->status = status;
    h->ctype = "application/json";
    h->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    lws_callback_on_writable(h->wsi);
}

static void
s_error(edge_http_t *h, unsigned status, const char *code, const char *msg)
{
    s_finish(h, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

/* Parses the method and path into h->op and h->arg. Returns 0 or -1. */
static int
s_route(struct lws *wsi, const char *path, edge_http_t *h)
{
    bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    bool del = lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0;
    char a[64] = "";
    int n = 0;
    if (get && strcmp(path, "/metrics") == 0)
        h->op = OP_METRICS;
    else if (get && strcmp(path, "/ws/status") == 0)
        h->op = OP_STATUS;
    else if (get && sscanf(path, "/ws/connection/%63[^/]/health%n", a, &n) == 1 && !path[n])
        h->op = OP_CONN_HEALTH;
    else if (post && sscanf(path, "/ws/user/%63[0-9]/reconnect%n", a, &n) == 1 && !path[n])
        h->op = OP_RECONNECT;
    else if (del && sscanf(path, "/ws/connection/%63[^/]%n", a, &n) == 1 && !path[n])
        h->op = OP_DELETE;
    else
        return -1;
    snprintf(h->arg, sizeof(h->arg), "%s", a);
    return 0;
}

/* Sends the operation to every live edge. */
static void
s_ask_peers(edge_t *e, edge_http_t *h)
{
    static const char *verbs[] = {NULL, HM_VERB_EDGE_STATUS, HM_VERB_EDGE_CONN_HEALTH,
                                  HM_VERB_EDGE_RECONNECT_USER, HM_VERB_EDGE_DISCONNECT};
    json_t *peers = edge_mgmt_peers(e);
    size_t i;
    json_t *id;
    h->acc = json_array();
    h->outstanding = (int) json_array_size(peers);
    json_array_foreach(peers, i, id)
    {
        char svc[HM_SVC_NAME_MAX];
        snprintf(svc, sizeof(svc), "%s%s", HM_SVC_EDGE_PREFIX, json_string_value(id));
        json_t *data = h->op == OP_RECONNECT
                           ? json_pack("{s:I}", "user_id", (json_int_t) atoll(h->arg))
                           : json_pack("{s:s}", "conn_id", h->arg);
        edge_bus_request_for(e, h->id, 0, EDGE_REQ_HTTP, svc, verbs[h->op], data, NULL,
                             STEP_PEER);
    }
    json_decref(peers);
}

/* All peers answered: build the response from h->acc. */
static void
s_peers_done(edge_t *e, edge_http_t *h)
{
    char ts[40];
    size_t i;
    json_t *r, *found = NULL;
    json_array_foreach(h->acc, i, r) if (!found && json_object_get(r, "connection_id")) found = r;
    if (h->op == OP_CONN_HEALTH) {
        if (found)
            s_finish(h, 200, json_incref(found));
        else
            s_error(h, 404, HM_ERR_NOT_FOUND, "no such connection");
    } else if (h->op == OP_DELETE) {
        if (found)
            s_finish(h, 200, json_pack("{s:s, s:s}", "connection_id", h->arg, "status",
                                       "disconnected"));
        else
            s_error(h, 404, HM_ERR_NOT_FOUND, "no such connection");
    } else if (h->op == OP_RECONNECT) {
        json_int_t closed = 0;
        json_array_foreach(h->acc, i, r) closed += json_integer_value(json_object_get(r, "closed"));
        s_finish(h, 200, json_pack("{s:I, s:I, s:s}", "user_id", (json_int_t) atoll(h->arg),
                                   "connections", closed, "status", "reconnect_requested"));
    } else {
        json_int_t active = 0, total = 0, sh = 0, sc = 0, sn = 0;
        json_t *users = json_object(), *edges = json_array();
        json_array_foreach(h->acc, i, r)
        {
            active += json_integer_value(json_object_get(r, "active_connections"));
            total += json_integer_value(json_object_get(r, "total_connections"));
            json_t *subs = json_object_get(r, "subscriptions");
            sh += json_integer_value(json_object_get(subs, HM_SUB_HEALTH));
            sc += json_integer_value(json_object_get(subs, HM_SUB_CHAT));
            sn += json_integer_value(json_object_get(subs, HM_SUB_NOTIFICATIONS));
            size_t k;
            json_t *u;
            json_array_foreach(json_object_get(r, "users"), k, u)
            {
                char key[32];
                snprintf(key, sizeof(key), "%lld", (long long) json_integer_value(u));
                json_object_set_new(users, key, json_true());
            }
            json_t *copy = json_deep_copy(r);
            json_object_del(copy, "users");
            json_array_append_new(edges, copy);
        }
        s_finish(h, 200,
                 json_pack("{s:s, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:s, s:o}", "status",
                           "healthy", "active_connections", active, "total_connections", total,
                           "users_online", (json_int_t) json_object_size(users), "subscriptions",
                           HM_SUB_HEALTH, sh, HM_SUB_CHAT, sc, HM_SUB_NOTIFICATIONS, sn,
                           "timestamp", hm_clock_iso8601(hm_clock_wall_ms(), ts, sizeof(ts)),
                           "edges", edges));
        json_decref(users);
    }
    (void) e;
}

void
edge_http_on_reply(edge_t *e, edge_http_t *h, const hm_envelope_t *req, hm_envelope_t *rep,
                   int64_t aux)
{
    bool err = strcmp(rep->type, HM_MSG_ERROR) == 0;
    if (aux == STEP_VERIFY) {
        if (err)
            return s_error(h, 401, HM_ERR_AUTH_FAILED, "a valid admin token is required");
        int64_t uid = json_integer_value(json_object_get(rep->data, "user_id"));
        edge_bus_request_for(e, h->id, uid, EDGE_REQ_HTTP, HM_SVC_AUTH, HM_VERB_AUTH_AUTHORIZE,
                             json_pack("{s:s}", "action", "manage"), NULL, STEP_AUTHORIZE);
    } else if (aux == STEP_AUTHORIZE) {
        const char *code = err ? json_string_value(json_object_get(rep->data, "code")) : NULL;
        if (err && code && strcmp(code, HM_ERR_FORBIDDEN) == 0)
            return s_error(h, 403, HM_ERR_FORBIDDEN, "management needs the admin role");
        if (err)
            return s_error(h, 503, HM_ERR_SERVICE_UNAVAILABLE, "authorization unavailable");
        if (h->op == OP_METRICS) {
            h->status = 200;
            h->ctype = "text/plain; version=0.0.4";
            h->body = edge_mgmt_metrics(e);
            lws_callback_on_writable(h->wsi);
            return;
        }
        s_ask_peers(e, h);
    } else {
        if (!err)
            json_array_append(h->acc, rep->data);
        if (--h->outstanding == 0)
            s_peers_done(e, h);
    }
    (void) req;
}

/* The content type for a file name. */
static const char *
s_mime(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript"},
                 {".css", "text/css"},                  {".png", "image/png"},
                 {".svg", "image/svg+xml"},             {".json", "application/json"},
                 {".ico", "image/x-icon"},              {".txt", "text/plain"}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].mime;
    return NULL;
}

/* Serves a static file from the www dir for GET path. Returns 1 when it
 * took the request (served or answered 404), 0 when the path is not a
 * static one. *rc is what the callback should return. */
static int
s_static(edge_t *e, struct lws *wsi, edge_http_t *h, const char *path, int *rc)
{
    if (!e->cfg.www_dir || !e->cfg.www_dir[0] || lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0
        || strncmp(path, "/ws/", 4) == 0 || strcmp(path, "/metrics") == 0)
        return 0;
    const char *name = strcmp(path, "/") == 0 ? "/index.html" : path;
    /* Only plain names below the www dir: letters, digits, '-', '_', '.', '/'; no "..". */
    bool ok = strlen(name) < 128 && !strstr(name, "..") && !strstr(name, "//");
    for (const char *p = name; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
             || *p == '-' || *p == '_' || *p == '.' || *p == '/';
    const char *mime = ok ? s_mime(name) : NULL;
    char full[1024];
    snprintf(full, sizeof(full), "%s%s", e->cfg.www_dir, name);
    if (!mime || access(full, R_OK) != 0) {
        s_error(h, 404, HM_ERR_NOT_FOUND, "no such file");
        *rc = 0;
        return 1;
    }
    int n = lws_serve_http_file(wsi, full, mime, NULL, 0);
    *rc = n < 0 || (n > 0 && lws_http_transaction_completed(wsi)) ? -1 : 0;
    return 1;
}

/* Starts a management request: checks the route and the bearer token. */
static int
s_begin(edge_t *e, struct lws *wsi, edge_http_t *h, const char *path)
{
    memset(h, 0, sizeof(*h));
    h->wsi = wsi;
    int rc = 0;
    if (s_static(e, wsi, h, path, &rc))
        return rc;
    if (s_route(wsi, path, h) != 0) {
        s_error(h, 404, HM_ERR_NOT_FOUND, "no such endpoint");
        return 0;
    }
    char auth[EDGE_MSG_TOKEN_MAX + 16];
    int n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 7 || strncasecmp(auth, "Bearer ", 7) != 0) {
        s_error(h, 401, HM_ERR_NOT_AUTHENTICATED, "Authorization: Bearer <admin token> needed");
        return 0;
    }
    hm_uuid4(h->id);
    zhashx_insert(e->http, h->id, h);
    h->registered = true;
    edge_bus_request_for(e, h->id, 0, EDGE_REQ_HTTP, HM_SVC_AUTH, HM_VERB_AUTH_VERIFY,
                         json_pack("{s:s, s:s}", "token", auth + 7, "endpoint", "management"),
                         NULL, STEP_VERIFY);
    return 0;
}

/* Writes the whole response. Returns what the callback should return. */
static int
s_write(edge_http_t *h)
{
    size_t n = h->body ? strlen(h->body) : 0;
    unsigned char hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(h->wsi, h->status, h->ctype, (lws_filepos_t) n, &p, end)
        || lws_finalize_write_http_header(h->wsi, start, &p, end))
        return -1;
    if (n) {
        unsigned char *buf = malloc(LWS_PRE + n);
        memcpy(buf + LWS_PRE, h->body, n);
        int rc = lws_write(h->wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
        free(buf);
        if (rc != (int) n)
            return -1;
    }
    free(h->body);
    h->body = NULL;
    json_decref(h->acc); /* keep-alive reuses this state for the next request */
    h->acc = NULL;
    h->status = 0;
    return lws_http_transaction_completed(h->wsi) ? -1 : 0;
}

static void
s_release(edge_t *e, edge_http_t *h)
{
    if (h->registered)
        zhashx_delete(e->http, h->id);
    h->registered = false;
    json_decref(h->acc);
    h->acc = NULL;
    free(h->body);
    h->body = NULL;
}

int
edge_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    edge_http_t *h = user;
    edge_t *e = s_edge(wsi);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (strcmp((const char *) in, "/healthz") == 0) {
            memset(h, 0, sizeof(*h));
            h->wsi = wsi;
            h->status = 200;
            h->ctype = "text/plain";
            h->body = strdup("ok\n");
            return s_write(h);
        }
        return s_begin(e, wsi, h, in);
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return 0; /* management calls take no body; the answer comes when ready */
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!h || !h->status)
            return 0;
        if (h->registered) {
            zhashx_delete(e->http, h->id);
            h->registered = false;
        }
        return s_write(h);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (h && h->wsi == wsi)
            s_release(e, h);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}
