/*
 * hm-auth - JWT validation, users and roles, care-team links, the session
 * registry, token revocation and the audit log (proto/SPEC.md section 7).
 *
 * Without a subcommand it runs the Majordomo service "auth" and listens to
 * sys.conn, sys.edge and sys.audit (refusals services decide on their own)
 * until SIGTERM/SIGINT. Subcommands (auth_cli.h)
 * administer the same database.
 */
#include <czmq.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "auth_cli.h"
#include "auth_db.h"
#include "auth_service.h"
#include "hm_bus.h"
#include "hm_config.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_mdp.h"

#define S_BATCH 256      /* requests or events handled per wake-up before the timers run */
#define S_WORKERS_MAX 64 /* Majordomo worker sockets, at most */

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"data_dir", HM_CFG_STR, "./var", 0, 0, "data directory"},
    {"db", HM_CFG_STR, "", 0, 0, "sqlite database (default <data_dir>/auth.db)"},
    {"jwt_alg", HM_CFG_STR, "HS256", 0, 0, "JWT algorithm, pinned: HS256, RS256 or ES256"},
    {"jwt_secret", HM_CFG_STR, "", 0, 0,
     "HS256 secret (visible in ps as a flag: prefer HM_JWT_SECRET or jwt_secret_file)"},
    {"jwt_secret_file", HM_CFG_STR, "", 0, 0,
     "file holding the HS256 secret (one trailing newline is ignored)"},
    {"jwt_public_key_file", HM_CFG_STR, "", 0, 0, "RS256/ES256: public key (PEM) to verify"},
    {"jwt_private_key_file", HM_CFG_STR, "", 0, 0,
     "RS256/ES256: private key (PEM) to sign, for `token` only"},
    {"issuer", HM_CFG_STR, "healthmate", 0, 0, "required iss claim"},
    {"audience", HM_CFG_STR, "healthmate-realtime", 0, 0, "required in the aud claim"},
    {"leeway_s", HM_CFG_INT, "30", 0, 3600, "clock skew allowed on exp, nbf and iat (s)"},
    {"max_per_user", HM_CFG_INT, "5", 1, 100000, "sessions per user across all edges"},
    {"edge_timeout_ms", HM_CFG_INT, "15000", 0, 86400000,
     "release the sessions of an edge silent this long (ms, 0: never)"},
    {"heartbeat_ms", HM_CFG_INT, "1000", 50, 60000, "Majordomo heartbeat interval (ms)"},
    {"workers", HM_CFG_INT, "16", 1, S_WORKERS_MAX,
     "Majordomo worker sockets: requests the broker hands over at once (group commit)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define USAGE                                                                                      \
    "hm-auth [options]                 run the auth service\n"                                     \
    "       hm-auth [options] user add --name NAME --role ROLE [--id N]\n"                         \
    "       hm-auth [options] user list | user disable ID | user enable ID\n"                      \
    "       hm-auth [options] link MEMBER_ID PATIENT_ID\n"                                         \
    "       hm-auth [options] token --user ID [--ttl S]\n"                                         \
    "       hm-auth [options] revoke JTI\n"                                                        \
    "ROLE: patient, caregiver, clinician, admin or service. Options may follow the command."

/* ---- arguments ---------------------------------------------------------- */

/* Whether "--word" (with or without "=value") is an option of the table
 * (or --config); *takes_value tells whether the next word is its value. */
static bool
s_is_config_flag(const char *word, bool *takes_value)
{
    const char *name = word + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    bool negated = len > 3 && strncmp(name, "no-", 3) == 0;
    *takes_value = !eq;
    if (len == 6 && strncmp(name, "config", 6) == 0)
        return true;
    for (const hm_cfg_opt_t *o = s_opts; o->name; o++) {
        const char *n = negated ? name + 3 : name;
        size_t nlen = negated ? len - 3 : len, j = 0;
        if (strlen(o->name) != nlen)
            continue;
        while (j < nlen && (n[j] == '-' ? '_' : n[j]) == o->name[j])
            j++;
        if (j < nlen || (negated && o->type != HM_CFG_BOOL))
            continue;
        *takes_value = !eq && !negated && o->type != HM_CFG_BOOL;
        return true;
    }
    return false;
}

/* Moves the options of the table (and --config, --help) in front of the
 * command, then "--", then every other word in order (the command, its
 * operands and its own flags such as --name), so that options may come
 * anywhere. out has room for argc + 2 pointers. Returns the count. */
static int
s_reorder(int argc, char **argv, char **out)
{
    int n = 0;
    bool *moved = calloc((size_t)argc + 1, sizeof *moved);
    if (!moved)
        return -1;
    out[n++] = argv[0];
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        bool takes_value = false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            out[n++] = "--help";
            moved[i] = true;
        } else if (strncmp(argv[i], "--", 2) == 0 && s_is_config_flag(argv[i], &takes_value)) {
            out[n++] = argv[i];
            moved[i] = true;
            if (takes_value && i + 1 < argc) {
                out[n++] = argv[++i];
                moved[i] = true;
            }
        }
    }
    out[n++] = "--";
    bool separator_seen = false; /* the caller's own "--" is dropped */
    for (int i = 1; i < argc; i++) {
        if (moved[i])
            continue;
        if (!separator_seen && strcmp(argv[i], "--") == 0) {
            separator_seen = true;
            continue;
        }
        out[n++] = argv[i];
    }
    out[n] = NULL;
    free(moved);
    return n;
}

/* ---- the service ---------------------------------------------------------- */

/* The Majordomo side: MDP/0.1 hands a worker socket one request at a time
 * and the next only after its reply, so one socket would commit (fsync)
 * every authentication alone. With several sockets a burst of connections
 * arrives together and is answered after one commit. The edge never has
 * two auth requests of one connection in flight, so the order across
 * sockets does not matter. */
typedef struct {
    hm_mdp_worker_t *w[S_WORKERS_MAX]; /* service "auth"; owned */
    int n;                             /* sockets in use */
    int next;                          /* where the next read starts (fairness) */
} s_workers_t;

/* Requests read in one wake-up, answered after one commit. */
typedef struct {
    hm_envelope_t *req[S_BATCH]; /* the requests; owned */
    zframe_t *to[S_BATCH];       /* their reply addresses; owned */
    hm_envelope_t *rep[S_BATCH]; /* the replies; owned */
    int via[S_BATCH];            /* the worker socket each came through */
    int n;                       /* entries used */
} s_batch_t;

/* Sends each reply (internal_error for all when failed) and frees the
 * batch. */
static void
s_batch_answer(s_workers_t *ws, s_batch_t *b, bool failed)
{
    for (int i = 0; i < b->n; i++) {
        if (failed || !b->rep[i]) {
            hm_envelope_destroy(&b->rep[i]);
            b->rep[i] = hm_mdp_error_reply(b->req[i], HM_ERR_INTERNAL,
                                           failed ? "database error" : "out of memory");
        }
        if (!b->rep[i] || hm_mdp_worker_send(ws->w[b->via[i]], &b->to[i], b->rep[i]) != 0)
            hm_log_error("reply_failed", "verb=%s", b->req[i]->type);
        hm_envelope_destroy(&b->rep[i]);
        hm_envelope_destroy(&b->req[i]);
        zframe_destroy(&b->to[i]);
    }
    b->n = 0;
}

/* Answers up to S_BATCH waiting requests from all worker sockets, their
 * writes in one transaction (group commit: one fsync for a burst). */
static void
s_drain_requests(s_workers_t *ws, auth_service_t *svc)
{
    s_batch_t b = {.n = 0};
    for (int k = 0; k < ws->n && b.n < S_BATCH; k++) {
        int w = (ws->next + k) % ws->n;
        int rc;
        while (b.n < S_BATCH && (rc = hm_mdp_worker_recv(ws->w[w], &b.req[b.n], &b.to[b.n])) >= 0)
            if (rc == 1) /* 0: heartbeat or garbage, nothing set */
                b.via[b.n++] = w;
    }
    ws->next = (ws->next + 1) % ws->n;
    if (b.n == 0)
        return;
    bool batched = auth_service_begin(svc) == 0;
    for (int i = 0; i < b.n; i++)
        b.rep[i] = auth_service_handle(svc, b.req[i]);
    s_batch_answer(ws, &b, batched && auth_service_commit(svc) != 0);
}

static void
s_on_event(void *svc, const char *topic, hm_envelope_t *ev)
{
    auth_service_on_event(svc, topic, ev);
}

/* Handles up to S_BATCH waiting bus events. */
static void
s_drain_events(zsock_t *sub, auth_service_t *svc)
{
    if (!(zsock_events(sub) & ZMQ_POLLIN))
        return;
    bool batched = auth_service_begin(svc) == 0;
    hm_bus_drain(sub, S_BATCH, s_on_event, svc, NULL);
    if (batched)
        auth_service_commit(svc);
}

/* The loop: requests, events and timers until SIGINT/SIGTERM. */
static void
s_loop(s_workers_t *ws, zsock_t *sub, auth_service_t *svc)
{
    zmq_pollitem_t items[S_WORKERS_MAX + 1];
    while (!zsys_interrupted) {
        int wait = auth_service_tick_ms(svc);
        items[0] = (zmq_pollitem_t){zsock_resolve(sub), 0, ZMQ_POLLIN, 0};
        for (int i = 0; i < ws->n; i++) { /* a worker's socket changes on reconnect */
            items[i + 1] = (zmq_pollitem_t){zsock_resolve(hm_mdp_worker_sock(ws->w[i])), 0,
                                            ZMQ_POLLIN, 0};
            int t = hm_mdp_worker_tick_ms(ws->w[i]);
            if (t < wait)
                wait = t;
        }
        if (zmq_poll(items, ws->n + 1, wait) < 0 && zmq_errno() != EINTR)
            break;
        s_drain_requests(ws, svc);
        s_drain_events(sub, svc);
        for (int i = 0; i < ws->n; i++)
            hm_mdp_worker_tick(ws->w[i]);
        auth_service_tick(svc);
    }
}

/* Connects the bus sockets. Returns 0 or -1 (logged). */
static int
s_connect(hm_config_t *cfg, zsock_t **pub, zsock_t **sub, s_workers_t *ws)
{
    *pub = hm_bus_pub_new(hm_config_str(cfg, "events_in"));
    *sub = hm_bus_sub_new(hm_config_str(cfg, "events_out"));
    if (!*pub || !*sub || hm_bus_subscribe(*sub, HM_TOPIC_SYS_CONN) != 0 ||
        hm_bus_subscribe(*sub, HM_TOPIC_SYS_EDGE) != 0 ||
        hm_bus_subscribe(*sub, HM_TOPIC_SYS_AUDIT) != 0)
        return -1;
    for (ws->n = 0; ws->n < (int)hm_config_int(cfg, "workers"); ws->n++)
        if (!(ws->w[ws->n] = hm_mdp_worker_new(hm_config_str(cfg, "requests"), HM_SVC_AUTH,
                                               (int)hm_config_int(cfg, "heartbeat_ms"))))
            return -1;
    return 0;
}

/* Runs the service. Returns the exit code. */
static int
s_serve(hm_config_t *cfg)
{
    auth_jwt_t *jwt = auth_cli_jwt_new(cfg, false);
    if (!jwt)
        return 2;
    char path[PATH_MAX];
    sqlite3 *db = auth_cli_db_path(cfg, path, sizeof path) ? auth_db_open(path) : NULL;
    zsock_t *pub = NULL, *sub = NULL;
    s_workers_t ws = {.n = 0};
    auth_service_t *svc = NULL;
    int rc = 1;
    if (db && s_connect(cfg, &pub, &sub, &ws) == 0) {
        auth_service_cfg_t scfg = {db, jwt, pub, (int)hm_config_int(cfg, "max_per_user"),
                                   hm_config_int(cfg, "edge_timeout_ms")};
        svc = auth_service_new(&scfg);
    }
    if (svc) {
        hm_log_info("started", "requests=%s events_out=%s alg=%s max_per_user=%lld workers=%d",
                    hm_config_str(cfg, "requests"), hm_config_str(cfg, "events_out"),
                    hm_config_str(cfg, "jwt_alg"), hm_config_int(cfg, "max_per_user"), ws.n);
        s_loop(&ws, sub, svc);
        hm_log_info("stopped", NULL);
        rc = 0;
    } else {
        hm_log_error("startup_failed", "reason=%s", db ? "bus" : "database");
    }
    auth_service_destroy(&svc);
    for (int i = 0; i < ws.n; i++)
        hm_mdp_worker_destroy(&ws.w[i]);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
    hm_db_close(&db);
    auth_jwt_destroy(&jwt);
    return rc;
}

int
main(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 2, sizeof(char *));
    int nargs = args ? s_reorder(argc, argv, args) : -1;
    hm_config_t *cfg = nargs > 0 ? hm_config_new("auth", USAGE, s_opts) : NULL;
    int first = 0;
    int rc = hm_config_start(cfg, nargs, args, "hm-auth", &first);
    if (rc != 0) {
        hm_config_destroy(&cfg);
        free(args);
        return rc == 1 ? 0 : 2;
    }
    if (first < nargs && strncmp(args[first], "-", 1) == 0) {
        fprintf(stderr, "hm-auth: unknown option %s (see --help)\n", args[first]);
        rc = 2;
    } else if (first < nargs) {
        rc = auth_cli_run(cfg, nargs - first, args + first);
    } else {
        rc = s_serve(cfg);
    }
    hm_config_destroy(&cfg);
    free(args);
    return rc;
}
