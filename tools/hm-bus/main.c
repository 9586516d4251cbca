/*
 * hm-bus - publish, subscribe and request on the HealthMate bus, JSON in and
 * out. For injecting test events and debugging.
 *
 *   hm-bus pub TOPIC JSON      publish one event (JSON "-": one per stdin line)
 *   hm-bus sub [TOPIC ...]     print events as JSON lines (all when no topic;
 *                              TOPIC ending in '*' matches a prefix)
 *   hm-bus req SERVICE JSON    send a Majordomo request, print the reply
 *   hm-bus bench events N      N ~100-byte events through the broker, events/s
 *   hm-bus bench req SERVICE N N round trips to an echo worker, round trips/s
 *
 * With --curve-cert and --curve-server-key every socket is a CURVE client
 * (see hm_bus.h).
 *
 * Exit codes: 0 ok, 1 error reply or failure, 2 bad usage or input (also a
 * certificate that does not load), 3 timeout.
 */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_bench.h"
#include "hm_bus.h"
#include "hm_config.h"
#include "hm_envelope_json.h"
#include "hm_log.h"
#include "hm_mdp.h"

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"count", HM_CFG_INT, "0", 0, 1e12, "sub: exit after N events (0: never)"},
    {"timeout", HM_CFG_DOUBLE, "0", 0, 86400,
     "sub: exit 3 after S seconds without the count reached (0: never); req: seconds per "
     "attempt (0: 5)"},
    {"retries", HM_CFG_INT, "2", 0, 100, "req: attempts after the first"},
    {"inflight", HM_CFG_INT, "1", 1, 100000, "bench req: requests outstanding at a time"},
    {"linger_ms", HM_CFG_INT, "300", 0, 60000,
     "pub: wait this long for the connection before sending"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define USAGE                                                                                      \
    "hm-bus [options] pub TOPIC JSON|-\n"                                                           \
    "       hm-bus [options] sub [TOPIC ...]\n"                                                     \
    "       hm-bus [options] req SERVICE JSON\n"                                                   \
    "       hm-bus [options] bench events N | bench req SERVICE N"

/* Parses one JSON text into an envelope; prints why not. Returns 0 or -1. */
static int
s_parse_envelope(const char *text, hm_envelope_t **env)
{
    json_error_t jerr;
    json_t *json = json_loads(text, 0, &jerr);
    if (!json) {
        fprintf(stderr, "hm-bus: invalid JSON: %s (line %d, column %d)\n", jerr.text, jerr.line,
                jerr.column);
        return -1;
    }
    char err[160];
    int rc = hm_envelope_from_json(json, env, err, sizeof(err));
    json_decref(json);
    if (rc != 0)
        fprintf(stderr, "hm-bus: invalid envelope: %s\n", err);
    return rc;
}

/* Prints an envelope as one JSON line, with the topic when given. */
static void
s_print(const char *topic, const hm_envelope_t *env)
{
    json_t *json = hm_envelope_to_json(env);
    if (topic)
        json_object_set_new(json, "topic", json_string(topic));
    char *text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
    if (text)
        printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(json);
}

static int
s_pub_one(zsock_t *pub, const char *topic, const char *text)
{
    hm_envelope_t *env = NULL;
    if (s_parse_envelope(text, &env) != 0)
        return 2;
    int rc = hm_bus_publish(pub, topic, env);
    hm_envelope_destroy(&env);
    if (rc != 0) {
        fprintf(stderr, "hm-bus: publish failed\n");
        return 1;
    }
    return 0;
}

static int
s_cmd_pub(hm_config_t *cfg, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "hm-bus: pub takes TOPIC and JSON (or -)\n");
        return 2;
    }
    const char *topic = argv[0];
    if (hm_topic_parse(topic, NULL, NULL) == HM_TOPIC_INVALID) {
        fprintf(stderr, "hm-bus: unknown topic '%s' (see proto/SPEC.md)\n", topic);
        return 2;
    }
    zsock_t *pub = hm_bus_pub_new(hm_config_str(cfg, "events_in"));
    if (!pub)
        return 1;
    /* PUB drops what it sends before the connection is up. */
    zclock_sleep((int) hm_config_int(cfg, "linger_ms"));
    int rc = 0;
    if (strcmp(argv[1], "-") != 0) {
        rc = s_pub_one(pub, topic, argv[1]);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (rc == 0 && (n = getline(&line, &cap, stdin)) > 0) {
            if (n <= 1 && line[0] == '\n')
                continue;
            rc = s_pub_one(pub, topic, line);
        }
        free(line);
    }
    zsock_set_linger(pub, 5000); /* let queued events leave before closing */
    zsock_destroy(&pub);
    return rc;
}

/* True when topic matches one of the patterns (whole, or prefix with '*'). */
static bool
s_matches(const char *topic, int npat, char **pats)
{
    if (npat == 0)
        return true;
    for (int i = 0; i < npat; i++) {
        size_t len = strlen(pats[i]);
        if (len > 0 && pats[i][len - 1] == '*') {
            if (strncmp(topic, pats[i], len - 1) == 0)
                return true;
        } else if (strcmp(topic, pats[i]) == 0)
            return true;
    }
    return false;
}

static int
s_cmd_sub(hm_config_t *cfg, int argc, char **argv)
{
    zsock_t *sub = hm_bus_sub_new(hm_config_str(cfg, "events_out"));
    if (!sub)
        return 1;
    for (int i = 0; i < argc; i++) {
        char prefix[HM_TOPIC_MAX];
        snprintf(prefix, sizeof(prefix), "%s", argv[i]);
        size_t len = strlen(prefix);
        if (len > 0 && prefix[len - 1] == '*')
            prefix[len - 1] = '\0';
        hm_bus_subscribe(sub, prefix);
    }
    if (argc == 0)
        hm_bus_subscribe(sub, "");
    long long count = hm_config_int(cfg, "count"), seen = 0;
    double timeout = hm_config_double(cfg, "timeout");
    int64_t deadline = timeout > 0 ? zclock_mono() + (int64_t) (timeout * 1000) : 0;
    int rc = 0;
    while (!zsys_interrupted && (count == 0 || seen < count)) {
        int wait = deadline ? (int) (deadline - zclock_mono()) : 1000;
        if (deadline && wait <= 0) {
            rc = 3;
            break;
        }
        zmq_pollitem_t item = {zsock_resolve(sub), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, wait) <= 0)
            continue;
        char *topic = NULL;
        hm_envelope_t *env = NULL;
        int r = hm_bus_recv(sub, &topic, &env);
        if (r == 0 && s_matches(topic, argc, argv)) {
            s_print(topic, env);
            seen++;
        } else if (r == -2)
            fprintf(stderr, "hm-bus: dropped a malformed event\n");
        free(topic);
        hm_envelope_destroy(&env);
    }
    zsock_destroy(&sub);
    return rc;
}

static int
s_cmd_req(hm_config_t *cfg, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "hm-bus: req takes SERVICE and JSON\n");
        return 2;
    }
    double timeout = hm_config_double(cfg, "timeout");
    int timeout_ms = timeout > 0 ? (int) (timeout * 1000) : 5000;
    hm_mdp_client_t *client = hm_mdp_client_new(hm_config_str(cfg, "requests"), timeout_ms,
                                                (int) hm_config_int(cfg, "retries"));
    if (!client)
        return 1;
    int rc;
    if (strcmp(argv[0], HM_MMI_SERVICE) == 0) {
        int status = hm_mdp_client_mmi_service(client, argv[1]);
        printf("{\"service\":\"%s\",\"status\":%d}\n", argv[1], status);
        rc = status == 200 ? 0 : status < 0 ? 3 : 1;
    } else {
        hm_envelope_t *req = NULL, *rep = NULL;
        rc = s_parse_envelope(argv[1], &req) != 0 ? 2 : 0;
        if (rc == 0 && hm_mdp_client_request(client, argv[0], req, &rep) != 0) {
            fprintf(stderr, "hm-bus: no reply from '%s' (timeout)\n", argv[0]);
            rc = 3;
        } else if (rc == 0) {
            s_print(NULL, rep);
            rc = strcmp(rep->type, HM_MSG_ERROR) == 0 ? 1 : 0;
        }
        hm_envelope_destroy(&req);
        hm_envelope_destroy(&rep);
    }
    hm_mdp_client_destroy(&client);
    return rc;
}

static int
s_cmd_bench(hm_config_t *cfg, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[0], "events") == 0 && atoll(argv[1]) > 0)
        return bus_bench_events(hm_config_str(cfg, "events_in"), hm_config_str(cfg, "events_out"),
                                atoll(argv[1]));
    if (argc == 3 && strcmp(argv[0], "req") == 0 && atoll(argv[2]) > 0)
        return bus_bench_req(hm_config_str(cfg, "requests"), argv[1], atoll(argv[2]),
                             (int) hm_config_int(cfg, "inflight"));
    fprintf(stderr, "hm-bus: bench events N | bench req SERVICE N\n");
    return 2;
}

/* Moves "--flag value" pairs in front of the subcommand and its arguments so
 * that flags may come anywhere. Every hm-bus flag takes a value except
 * --help. */
static void
s_reorder(int argc, char **argv, char **out)
{
    int n = 1;
    out[0] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0)
            out[n++] = "--help";
        if (strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
            out[n++] = argv[i];
            if (!strchr(argv[i], '=') && strcmp(argv[i], "--help") != 0 && i + 1 < argc)
                out[n++] = argv[++i];
        }
    }
    out[n++] = "--";
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
            if (!strchr(argv[i], '=') && strcmp(argv[i], "--help") != 0)
                i++;
        } else if (strcmp(argv[i], "-h") != 0)
            out[n++] = argv[i];
    }
    out[n] = NULL;
}

int
main(int argc, char **argv)
{
    char **args = calloc((size_t) argc + 2, sizeof(char *));
    s_reorder(argc, argv, args);
    int nargs = 0;
    while (args[nargs])
        nargs++;
    hm_config_t *cfg = hm_config_new("bus", USAGE, s_opts);
    int first = 0;
    int rc = hm_config_load(cfg, nargs, args, &first);
    if (rc == 0 && first >= nargs) {
        hm_config_print_help(cfg, stderr);
        rc = -1;
    }
    if (rc == 0 && hm_bus_curve_configure(cfg) != 0)
        rc = -1;
    if (rc != 0) {
        hm_config_destroy(&cfg);
        free(args);
        return rc == 1 ? 0 : 2;
    }
    int level = hm_log_level_parse(hm_config_str(cfg, "log_level"));
    hm_log_init("hm-bus", level < 0 ? HM_LOG_INFO : (hm_log_level_t) level);
    const char *cmd = args[first];
    int sargc = nargs - first - 1;
    char **sargv = args + first + 1;
    if (strcmp(cmd, "pub") == 0)
        rc = s_cmd_pub(cfg, sargc, sargv);
    else if (strcmp(cmd, "sub") == 0)
        rc = s_cmd_sub(cfg, sargc, sargv);
    else if (strcmp(cmd, "req") == 0)
        rc = s_cmd_req(cfg, sargc, sargv);
    else if (strcmp(cmd, "bench") == 0)
        rc = s_cmd_bench(cfg, sargc, sargv);
    else {
        fprintf(stderr, "hm-bus: unknown command '%s' (pub, sub or req; see --help)\n", cmd);
        rc = 2;
    }
    hm_config_destroy(&cfg);
    free(args);
    return rc;
}
