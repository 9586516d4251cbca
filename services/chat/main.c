/*
 * hm-chat - conversations with the AI health assistant and the care team:
 * messages with per-conversation and per-user seqs, typing indicators,
 * history, replay (proto/SPEC.md sections 8 and 10).
 *
 * Runs the Majordomo service "chat", listens to sys.conn (a closed
 * connection stops its typing) and asks other services (auth, health,
 * scheduler, notify) through an asynchronous Majordomo client, until
 * SIGTERM/SIGINT. Everything acknowledged is in sqlite (WAL,
 * synchronous=FULL) before the reply leaves.
 */
#include <curl/curl.h>
#include <czmq.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "chat_backend.h"
#include "chat_db.h"
#include "chat_llm.h"
#include "chat_service.h"
#include "hm_bus.h"
#include "hm_config.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_mdp.h"

#define S_BATCH 256    /* requests, events or replies read per wake-up */
#define S_KEY_MAX 4096 /* bytes of an API key file */

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"data_dir", HM_CFG_STR, "./var", 0, 0, "data directory"},
    {"db", HM_CFG_STR, "", 0, 0, "sqlite database (default <data_dir>/chat.db)"},
    {"heartbeat_ms", HM_CFG_INT, "1000", 50, 60000, "Majordomo heartbeat interval (ms)"},
    {"assistant", HM_CFG_STR, "rules", 0, 0, "assistant backend: rules (offline) or openai"},
    {"openai_url", HM_CFG_STR, "", 0, 0,
     "openai backend: OpenAI-compatible base URL (.../v1) or .../v1/chat/completions"},
    {"openai_model", HM_CFG_STR, "gpt-4o-mini", 0, 0, "openai backend: model name"},
    {"openai_key", HM_CFG_STR, "", 0, 0,
     "openai backend: API key (visible in ps as a flag: prefer HM_OPENAI_KEY or openai_key_file)"},
    {"openai_key_file", HM_CFG_STR, "", 0, 0,
     "file holding the API key (one trailing newline "
     "is ignored)"},
    {"openai_timeout_ms", HM_CFG_INT, "20000", 100, 600000,
     "openai backend: whole request; then the rules answer with a note"},
    {"openai_idle_ms", HM_CFG_INT, "10000", 100, 600000,
     "openai backend: silence allowed while streaming (and to connect)"},
    {"openai_threads", HM_CFG_INT, "2", 1, CHAT_LLM_THREADS_MAX,
     "openai backend: requests at a time"},
    {"openai_max_tokens", HM_CFG_INT, "400", 0, 100000, "openai backend: max_tokens (0: unset)"},
    {"history", HM_CFG_INT, "8", 0, 50, "openai backend: messages of the conversation sent"},
    {"context_timeout_ms", HM_CFG_INT, "1000", 50, 60000,
     "assistant: wait this long for the user's data from other services"},
    {"typing_timeout_ms", HM_CFG_INT, "5000", 100, 600000,
     "typing stops this long after the last typing update"},
    {"typing_rate", HM_CFG_DOUBLE, "5", 0.1, 1000, "typing updates per second per user"},
    {"typing_burst", HM_CFG_DOUBLE, "10", 1, 10000, "typing updates in a burst per user"},
    {"max_message_bytes", HM_CFG_INT, "4000", 1, 65536, "longest chat message (bytes)"},
    {"call_timeout_ms", HM_CFG_INT, "2000", 50, 600000,
     "requests to auth and notify: give up after (ms)"},
    {"authz_ttl_ms", HM_CFG_INT, "60000", 0, 86400000,
     "remember hm-auth's care-team answers this long (ms)"},
    {"republish_ms", HM_CFG_INT, "5000", 0, 3600000,
     "at start, publish events stored this recently again (ms)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define USAGE "hm-chat [options]          run the chat service"

/* What the loop sends through. */
typedef struct {
    hm_mdp_worker_t *worker; /* replies; borrowed */
    zsock_t *pub;            /* events; borrowed */
} s_io_t;

static void
s_reply(void *arg, zframe_t **to, const hm_envelope_t *rep)
{
    s_io_t *io = arg;
    if (hm_mdp_worker_send(io->worker, to, rep) != 0)
        hm_log_error("reply_failed", "type=%s", rep->type);
}

static void
s_publish(void *arg, const char *topic, const hm_envelope_t *ev)
{
    s_io_t *io = arg;
    if (hm_bus_publish(io->pub, topic, ev) != 0)
        hm_log_error("publish_failed", "topic=%s", topic);
}

static int
s_call_send(void *arg, const char *service, const hm_envelope_t *req)
{
    return hm_mdp_client_send(arg, service, req);
}

/* ---- the loop ------------------------------------------------------------ */

static void
s_on_event(void *svc, const char *topic, hm_envelope_t *ev)
{
    chat_service_on_event(svc, topic, ev);
}

/* Reads what is waiting on the three bus sockets, up to S_BATCH each. */
static void
s_drain(hm_mdp_worker_t *worker, zsock_t *sub, hm_mdp_client_t *client, chat_service_t *svc)
{
    hm_envelope_t *req = NULL;
    zframe_t *to = NULL;
    int rc;
    for (int n = 0; n < S_BATCH && (rc = hm_mdp_worker_recv(worker, &req, &to)) >= 0; n++)
        if (rc == 1)
            chat_service_request(svc, &req, &to);
    hm_bus_drain(sub, S_BATCH, s_on_event, svc, NULL);
    zsock_t *cs = hm_mdp_client_sock(client);
    for (int n = 0; n < S_BATCH && (zsock_events(cs) & ZMQ_POLLIN); n++) {
        char *service = NULL;
        hm_envelope_t *rep = NULL;
        if (hm_mdp_client_recv(client, &service, &rep) == 0)
            chat_service_on_reply(svc, rep);
        free(service);
        hm_envelope_destroy(&rep);
    }
}

/* Requests, events, replies, backend results and timers until a signal. */
static void
s_loop(hm_mdp_worker_t *worker, zsock_t *sub, hm_mdp_client_t *client, chat_service_t *svc,
       chat_backend_t *backend, const chat_sink_t *sink)
{
    while (!zsys_interrupted) {
        zmq_pollitem_t items[3 + CHAT_BK_POLL_MAX] = {
            {zsock_resolve(hm_mdp_worker_sock(worker)), 0, ZMQ_POLLIN, 0},
            {zsock_resolve(sub), 0, ZMQ_POLLIN, 0},
            {zsock_resolve(hm_mdp_client_sock(client)), 0, ZMQ_POLLIN, 0},
        };
        int n = 3 + backend->poll_items(backend, items + 3, CHAT_BK_POLL_MAX);
        int wait = hm_mdp_worker_tick_ms(worker);
        int svc_wait = chat_service_tick_ms(svc);
        if (zmq_poll(items, n, svc_wait < wait ? svc_wait : wait) < 0 && zmq_errno() != EINTR)
            break;
        s_drain(worker, sub, client, svc);
        hm_mdp_worker_tick(worker);
        chat_service_tick(svc);
        chat_service_flush(svc, sink);
    }
}

/* ---- set-up -------------------------------------------------------------- */

/* The API key from openai_key or openai_key_file into buf. Returns 0 or -1
 * (reason printed). */
static int
s_read_key(hm_config_t *cfg, char *buf, size_t len)
{
    const char *key = hm_config_str(cfg, "openai_key");
    const char *file = hm_config_str(cfg, "openai_key_file");
    if (*key && *file) {
        fprintf(stderr, "hm-chat: set only one of openai_key and openai_key_file\n");
        return -1;
    }
    if (!*file) {
        snprintf(buf, len, "%s", key);
        return 0;
    }
    FILE *f = fopen(file, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    if (f)
        fclose(f);
    if (!f) {
        fprintf(stderr, "hm-chat: cannot read the API key file %s\n", file);
        return -1;
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return 0;
}

/* The configured backend (the rules one when "rules"). NULL on a bad
 * configuration (reason printed). */
static chat_backend_t *
s_backend(hm_config_t *cfg, chat_backend_t *rules)
{
    const char *name = hm_config_str(cfg, "assistant");
    if (strcmp(name, "rules") == 0)
        return rules;
    if (strcmp(name, "openai") != 0) {
        fprintf(stderr, "hm-chat: assistant must be rules or openai, not %s\n", name);
        return NULL;
    }
    char key[S_KEY_MAX], url[2048];
    if (chat_llm_url(hm_config_str(cfg, "openai_url"), url, sizeof url) != 0) {
        fprintf(stderr, "hm-chat: the openai assistant needs --openai-url http(s)://...\n");
        return NULL;
    }
    if (s_read_key(cfg, key, sizeof key) != 0)
        return NULL;
    chat_llm_cfg_t lcfg = {url,
                           hm_config_str(cfg, "openai_model"),
                           key,
                           (int)hm_config_int(cfg, "openai_timeout_ms"),
                           (int)hm_config_int(cfg, "openai_idle_ms"),
                           (int)hm_config_int(cfg, "openai_threads"),
                           (int)hm_config_int(cfg, "openai_max_tokens")};
    chat_backend_t *bk = chat_llm_new(&lcfg);
    OPENSSL_cleanse(key, sizeof key);
    return bk;
}

/* The service configuration from the options. */
static chat_service_cfg_t
s_service_cfg(hm_config_t *cfg, sqlite3 *db, chat_backend_t *backend, chat_backend_t *rules,
              hm_mdp_client_t *client)
{
    bool llm = backend != rules;
    return (chat_service_cfg_t){
        .db = db,
        .backend = backend,
        .rules = rules,
        .send = s_call_send,
        .send_arg = client,
        .max_message_bytes = (int)hm_config_int(cfg, "max_message_bytes"),
        .typing_timeout_ms = (int)hm_config_int(cfg, "typing_timeout_ms"),
        .typing_rate = hm_config_double(cfg, "typing_rate"),
        .typing_burst = hm_config_double(cfg, "typing_burst"),
        .context_timeout_ms = (int)hm_config_int(cfg, "context_timeout_ms"),
        .generate_timeout_ms = llm ? (int)hm_config_int(cfg, "openai_timeout_ms") + 2000 : 5000,
        .history = (int)hm_config_int(cfg, "history"),
        .call_timeout_ms = (int)hm_config_int(cfg, "call_timeout_ms"),
        .authz_ttl_ms = hm_config_int(cfg, "authz_ttl_ms"),
        .republish_ms = hm_config_int(cfg, "republish_ms"),
    };
}

/* Everything the service runs with. */
typedef struct {
    sqlite3 *db;
    chat_backend_t *rules, *backend;
    zsock_t *pub, *sub;
    hm_mdp_worker_t *worker;
    hm_mdp_client_t *client;
    chat_service_t *svc;
} s_parts_t;

static void
s_parts_destroy(s_parts_t *p)
{
    chat_service_destroy(&p->svc);
    if (p->backend != p->rules && p->backend)
        p->backend->destroy(&p->backend);
    if (p->rules)
        p->rules->destroy(&p->rules);
    hm_mdp_worker_destroy(&p->worker);
    hm_mdp_client_destroy(&p->client);
    zsock_destroy(&p->sub);
    zsock_destroy(&p->pub);
    hm_db_close(&p->db);
}

/* Opens the database and the bus. Returns 0 or -1 (logged). */
static int
s_open(hm_config_t *cfg, s_parts_t *p)
{
    char path[PATH_MAX];
    const char *db = hm_config_str(cfg, "db");
    int n = *db ? snprintf(path, sizeof path, "%s", db)
                : snprintf(path, sizeof path, "%s/chat.db", hm_config_str(cfg, "data_dir"));
    if (n < 0 || (size_t)n >= sizeof path || !(p->db = chat_db_open(path))) {
        hm_log_error("startup_failed", "reason=database");
        return -1;
    }
    p->pub = hm_bus_pub_new(hm_config_str(cfg, "events_in"));
    p->sub = hm_bus_sub_new(hm_config_str(cfg, "events_out"));
    p->client = hm_mdp_client_new(hm_config_str(cfg, "requests"), 1000, 0);
    if (!p->pub || !p->sub || !p->client || hm_bus_subscribe(p->sub, HM_TOPIC_SYS_CONN) != 0) {
        hm_log_error("startup_failed", "reason=bus");
        return -1;
    }
    return 0;
}

/* Runs the service. Returns the exit code. */
static int
s_serve(hm_config_t *cfg)
{
    s_parts_t p = {0};
    int rc = 1;
    if (!(p.rules = chat_backend_rules_new()) || !(p.backend = s_backend(cfg, p.rules))) {
        s_parts_destroy(&p);
        return 2;
    }
    if (s_open(cfg, &p) == 0) {
        chat_service_cfg_t scfg = s_service_cfg(cfg, p.db, p.backend, p.rules, p.client);
        scfg.pub = p.pub;
        p.svc = chat_service_new(&scfg);
        p.worker = p.svc ? hm_mdp_worker_new(hm_config_str(cfg, "requests"), HM_SVC_CHAT,
                                             (int)hm_config_int(cfg, "heartbeat_ms"))
                         : NULL;
    }
    if (p.worker) {
        hm_log_info("started", "requests=%s events_out=%s assistant=%s",
                    hm_config_str(cfg, "requests"), hm_config_str(cfg, "events_out"),
                    p.backend->name);
        s_io_t io = {p.worker, p.pub};
        chat_sink_t sink = {s_reply, s_publish, &io};
        chat_service_start(p.svc);
        chat_service_flush(p.svc, &sink);
        s_loop(p.worker, p.sub, p.client, p.svc, p.backend, &sink);
        hm_log_info("stopped", NULL);
        rc = 0;
    } else if (p.db) {
        hm_log_error("startup_failed", "reason=%s", p.svc ? "bus" : "service");
    }
    s_parts_destroy(&p);
    return rc;
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("chat", USAGE, s_opts);
    int rc = hm_config_start(cfg, argc, argv, "hm-chat", NULL);
    if (rc != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        hm_log_error("startup_failed", "reason=curl");
        hm_config_destroy(&cfg);
        return 1;
    }
    rc = s_serve(cfg);
    curl_global_cleanup();
    hm_config_destroy(&cfg);
    return rc;
}
