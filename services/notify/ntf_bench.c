/*
 * ntf_bench.c - create-and-deliver throughput through a running stack.
 */
#include "ntf_bench.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_bus.h"
#include "hm_ids.h"
#include "hm_log.h"
#include "hm_mdp.h"

typedef struct {
    long long count;      /* notifications to create */
    int users;            /* spread over this many users */
    int inflight;         /* requests outstanding */
    long long first_user; /* first user id */
    int64_t *sent_us;     /* send time per notification index; owned */
    int64_t *lat_us;      /* create-to-event latency per delivered one; owned */
    long long sent, created, failed, delivered;
} s_bench_t;

/* Parses the positional arguments. Returns 0 or -1. */
static int
s_args(s_bench_t *b, int argc, char **argv)
{
    b->count = argc > 0 ? atoll(argv[0]) : 0;
    b->users = argc > 1 ? atoi(argv[1]) : 1;
    b->inflight = argc > 2 ? atoi(argv[2]) : 64;
    b->first_user = argc > 3 ? atoll(argv[3]) : 900000001LL;
    if (argc < 1 || argc > 4 || b->count <= 0 || b->count > 100000000 || b->users <= 0 ||
        b->inflight <= 0 || b->inflight > 100000 || b->first_user <= 0) {
        fprintf(stderr, "hm-notify: bench COUNT [USERS [INFLIGHT [FIRST_USER]]]\n");
        return -1;
    }
    return 0;
}

/* Sends create number i. Returns 0 or -1. */
static int
s_send(s_bench_t *b, hm_mdp_client_t *client, const char *run, long long i)
{
    char title[64], key[96];
    snprintf(title, sizeof title, "bench-%lld", i);
    snprintf(key, sizeof key, "bench-%s-%lld", run, i);
    hm_envelope_t *req = hm_envelope_new(HM_VERB_NOTIFY_CREATE);
    if (!req)
        return -1;
    hm_envelope_set_data(req, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "user_id",
                                        (json_int_t)(b->first_user + i % b->users), "type",
                                        "system", "priority", "normal", "title", title, "message",
                                        "benchmark", "idempotency_key", key));
    b->sent_us[i] = zclock_usecs();
    int rc = hm_mdp_client_send(client, HM_SVC_NOTIFY, req);
    hm_envelope_destroy(&req);
    return rc;
}

/* Reads waiting replies; counts them. */
static void
s_replies(s_bench_t *b, hm_mdp_client_t *client)
{
    char *svc = NULL;
    hm_envelope_t *rep = NULL;
    while (hm_mdp_client_recv(client, &svc, &rep) == 0) {
        if (strcmp(rep->type, HM_MSG_ACK) == 0)
            b->created++;
        else
            b->failed++;
        free(svc);
        hm_envelope_destroy(&rep);
    }
}

/* Reads waiting events; counts bench notifications and their latency. */
static void
s_events(s_bench_t *b, zsock_t *sub)
{
    char *topic = NULL;
    hm_envelope_t *ev = NULL;
    while ((zsock_events(sub) & ZMQ_POLLIN) && hm_bus_recv(sub, &topic, &ev) == 0) {
        const char *title = json_string_value(json_object_get(ev->data, "title"));
        if (title && strncmp(title, "bench-", 6) == 0 && ev->seq >= 0) {
            long long i = atoll(title + 6);
            if (i >= 0 && i < b->count && b->delivered < b->count)
                b->lat_us[b->delivered++] = zclock_usecs() - b->sent_us[i];
        }
        free(topic);
        hm_envelope_destroy(&ev);
    }
}

static int
s_cmp(const void *a, const void *c)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)c;
    return x < y ? -1 : x > y;
}

/* The loop: keep inflight requests outstanding until all are answered and
 * delivered, or nothing moved for 5 s. */
static void
s_run(s_bench_t *b, hm_mdp_client_t *client, zsock_t *sub, const char *run)
{
    int64_t last_progress = zclock_mono();
    while (!zsys_interrupted && (b->created + b->failed < b->count || b->delivered < b->created)) {
        while (b->sent < b->count && b->sent - b->created - b->failed < b->inflight)
            if (s_send(b, client, run, b->sent++) != 0)
                b->failed++;
        zmq_pollitem_t items[] = {{zsock_resolve(hm_mdp_client_sock(client)), 0, ZMQ_POLLIN, 0},
                                  {zsock_resolve(sub), 0, ZMQ_POLLIN, 0}};
        long long before = b->created + b->failed + b->delivered;
        zmq_poll(items, 2, 100);
        s_replies(b, client);
        s_events(b, sub);
        if (b->created + b->failed + b->delivered != before)
            last_progress = zclock_mono();
        else if (zclock_mono() - last_progress > 5000)
            break;
    }
}

int
ntf_bench_run(hm_config_t *cfg, int argc, char **argv)
{
    s_bench_t b;
    memset(&b, 0, sizeof b);
    if (s_args(&b, argc, argv) != 0)
        return 2;
    b.sent_us = calloc((size_t)b.count, sizeof *b.sent_us);
    b.lat_us = calloc((size_t)b.count, sizeof *b.lat_us);
    hm_mdp_client_t *client = hm_mdp_client_new(hm_config_str(cfg, "requests"), 5000, 0);
    zsock_t *sub = hm_bus_sub_new(hm_config_str(cfg, "events_out"));
    int rc = 1;
    if (b.sent_us && b.lat_us && client && sub && hm_bus_subscribe(sub, "u.") == 0) {
        char run[HM_UUID_STRLEN];
        hm_uuid4(run);
        zclock_sleep(300); /* let the subscription reach the broker */
        int64_t t0 = zclock_usecs();
        s_run(&b, client, sub, run);
        double secs = (double)(zclock_usecs() - t0) / 1e6;
        qsort(b.lat_us, (size_t)b.delivered, sizeof *b.lat_us, s_cmp);
        double p50 = b.delivered ? b.lat_us[b.delivered / 2] / 1000.0 : 0;
        double p99 = b.delivered ? b.lat_us[b.delivered * 99 / 100] / 1000.0 : 0;
        printf("{\"created\":%lld,\"failed\":%lld,\"delivered\":%lld,\"seconds\":%.3f,"
               "\"created_per_s\":%.0f,\"delivered_per_s\":%.0f,\"latency_p50_ms\":%.2f,"
               "\"latency_p99_ms\":%.2f,\"users\":%d,\"inflight\":%d}\n",
               b.created, b.failed, b.delivered, secs, b.created / secs, b.delivered / secs, p50,
               p99, b.users, b.inflight);
        rc = b.created == b.count && b.delivered == b.count ? 0 : 1;
    }
    zsock_destroy(&sub);
    hm_mdp_client_destroy(&client);
    free(b.sent_us);
    free(b.lat_us);
    return rc;
}
