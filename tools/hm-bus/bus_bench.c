/*
 * bus_bench.c - `hm-bus bench events|req`: throughput through a running
 * broker, for the notes and the README (not a test).
 *
 *   events: one PUB and one SUB in this process, N events of about 100 bytes
 *           through the broker's proxy as fast as the sockets take them;
 *           prints sent, received, lost and events per second.
 *   req:    N Majordomo round trips to SERVICE (an echo worker), with
 *           `--inflight K` requests outstanding at a time; prints round
 *           trips per second.
 */
#include "bus_bench.h"

#include <stdio.h>
#include <string.h>

#include "hm_bus.h"
#include "hm_mdp.h"

static double
s_secs(int64_t from)
{
    return (double) (zclock_usecs() - from) / 1e6;
}

int
bus_bench_events(const char *events_in, const char *events_out, long long count)
{
    zsock_t *pub = hm_bus_pub_new(events_in);
    zsock_t *sub = hm_bus_sub_new(events_out);
    if (!pub || !sub)
        return 1;
    hm_bus_subscribe(sub, "sys.edge");
    zsock_set_rcvtimeo(sub, 200);
    /* Wait until the subscription has reached the publisher. */
    hm_envelope_t *probe = hm_envelope_new("probe");
    char *topic = NULL;
    hm_envelope_t *got = NULL;
    for (int i = 0; i < 50 && !got; i++) {
        hm_bus_publish(pub, "sys.edge", probe);
        if (hm_bus_recv(sub, &topic, &got) == 0)
            break;
    }
    hm_envelope_destroy(&probe);
    hm_envelope_destroy(&got);
    free(topic);
    topic = NULL;
    while (hm_bus_recv(sub, &topic, &got) == 0) { /* drain late probes */
        free(topic);
        hm_envelope_destroy(&got);
    }
    /* A ~100-byte envelope: v, type, id (36), ts, seq and a small data map. */
    hm_envelope_t *env = hm_envelope_new("bench");
    hm_envelope_set_data(env, json_pack("{s:s}", "p", "0123456789abcdef"));
    char *buf = NULL;
    size_t len = 0;
    hm_envelope_encode(env, &buf, &len);
    free(buf);
    long long sent = 0, received = 0;
    int64_t t0 = zclock_usecs();
    zsock_set_rcvtimeo(sub, 0);
    while ((sent < count || received < sent) && !zsys_interrupted) {
        for (int i = 0; i < 1000 && sent < count; i++) {
            env->seq = sent;
            if (hm_bus_publish(pub, "sys.edge", env) == 0)
                sent++;
        }
        while (hm_bus_recv(sub, &topic, &got) == 0) {
            received++;
            free(topic);
            hm_envelope_destroy(&got);
        }
        if (sent >= count) {
            zsock_set_rcvtimeo(sub, 500);
            if (hm_bus_recv(sub, &topic, &got) != 0)
                break;
            received++;
            free(topic);
            hm_envelope_destroy(&got);
        }
    }
    double secs = s_secs(t0);
    printf("{\"bench\":\"events\",\"envelope_bytes\":%zu,\"sent\":%lld,\"received\":%lld,"
           "\"lost\":%lld,\"seconds\":%.3f,\"events_per_s\":%.0f}\n",
           len, sent, received, sent - received, secs, (double) received / secs);
    hm_envelope_destroy(&env);
    zsock_destroy(&pub);
    zsock_destroy(&sub);
    return received == sent ? 0 : 1;
}

int
bus_bench_req(const char *requests, const char *service, long long count, int inflight)
{
    hm_mdp_client_t *client = hm_mdp_client_new(requests, 5000, 0);
    if (!client)
        return 1;
    hm_envelope_t *req = hm_envelope_new(HM_VERB_ECHO);
    long long sent = 0, done = 0, errors = 0;
    int64_t t0 = zclock_usecs();
    while (done < count && !zsys_interrupted) {
        while (sent < count && sent - done < inflight) {
            req->seq = sent++;
            hm_mdp_client_send(client, service, req);
        }
        zmq_pollitem_t item = {zsock_resolve(hm_mdp_client_sock(client)), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 5000) <= 0)
            break;
        char *svc = NULL;
        hm_envelope_t *rep = NULL;
        while (hm_mdp_client_recv(client, &svc, &rep) == 0) {
            done++;
            if (strcmp(rep->type, HM_MSG_ERROR) == 0)
                errors++;
            free(svc);
            hm_envelope_destroy(&rep);
        }
    }
    double secs = s_secs(t0);
    printf("{\"bench\":\"req\",\"service\":\"%s\",\"inflight\":%d,\"round_trips\":%lld,"
           "\"errors\":%lld,\"seconds\":%.3f,\"round_trips_per_s\":%.0f}\n",
           service, inflight, done, errors, secs, (double) done / secs);
    hm_envelope_destroy(&req);
    hm_mdp_client_destroy(&client);
    return done == count && errors == 0 ? 0 : 1;
}
