/*
 * bench_pub.c - events on the bus, timestamped at publish (bench_pub.h).
 *
 * One envelope and one data object are built once and updated per event
 * (t_ns, seq, ids), so publishing costs the msgpack encoding and the send.
 */
#include "bench_pub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_ids.h"

struct bench_pub {
    const bench_cfg_t *cfg;    /* borrowed */
    const bench_cred_t *creds; /* borrowed */
    size_t ncreds;
    zsock_t *pub;             /* PUB on events-in; owned */
    hm_envelope_t *env;       /* the event, updated per publish; owned */
    hm_envelope_t *probe;     /* the warm-up probe; owned */
    json_t *t_ns, *seq, *id;  /* members of env->data, borrowed */
    json_t *value;            /* health: the reading's value, borrowed */
    char topic[HM_TOPIC_MAX]; /* scratch */
};

/* The data object, t_ns first and seq second. */
static json_t *
s_data(bench_pub_t *self, bool health)
{
    char *pad = malloc((size_t)self->cfg->payload + 1);
    if (!pad)
        return NULL;
    memset(pad, 'x', (size_t)self->cfg->payload);
    pad[self->cfg->payload] = '\0';
    char now[40];
    hm_clock_iso8601(hm_clock_wall_ms(), now, sizeof(now));
    json_t *d = json_object();
    json_object_set_new(d, "t_ns", json_integer(0));
    json_object_set_new(d, "seq", json_integer(0));
    json_object_set_new(d, "id", health ? json_integer(0) : json_string("bench"));
    if (health) {
        json_object_set_new(d, "metric", json_string("heart_rate"));
        json_object_set_new(d, "value", json_integer(60));
        json_object_set_new(d, "unit", json_string("bpm"));
        json_object_set_new(d, "timestamp", json_string(now));
        json_object_set_new(d, "source", json_string("hm-bench"));
    } else {
        json_object_set_new(d, "type", json_string("system"));
        json_object_set_new(d, "title", json_string("hm-bench"));
        json_object_set_new(d, "message", json_string("benchmark notification"));
        json_object_set_new(d, "priority", json_string("normal"));
        json_object_set_new(d, "created_at", json_string(now));
    }
    json_object_set_new(d, "pad", json_string(pad));
    free(pad);
    self->t_ns = json_object_get(d, "t_ns");
    self->seq = json_object_get(d, "seq");
    self->id = json_object_get(d, "id");
    self->value = json_object_get(d, "value");
    return d;
}

bench_pub_t *
bench_pub_new(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds)
{
    bench_pub_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->creds = creds;
    self->ncreds = ncreds;
    bool health = cfg->scenario != BENCH_BROADCAST;
    const char *type = cfg->scenario == BENCH_CHAT ? "chat_message"
                       : health                    ? HM_MSG_HEALTH_UPDATE
                                                   : HM_MSG_NOTIFICATION;
    self->pub = hm_bus_pub_new(cfg->events_in);
    self->env = hm_envelope_new(type);
    self->probe = hm_envelope_new(type);
    json_t *data = self->env ? s_data(self, health) : NULL;
    if (!self->pub || !self->env || !self->probe || !data ||
        hm_envelope_set_data(self->env, data) != 0 ||
        hm_envelope_set_data(self->probe, json_pack("{s:i}", "probe", 1)) != 0) {
        fprintf(stderr, "hm-bench: cannot publish on %s\n", cfg->events_in);
        bench_pub_destroy(&self);
    }
    return self;
}

void
bench_pub_destroy(bench_pub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bench_pub_t *self = *self_p;
    hm_envelope_destroy(&self->env);
    hm_envelope_destroy(&self->probe);
    zsock_destroy(&self->pub);
    free(self);
    *self_p = NULL;
}

/* The user of connection idx (per-user: one user per connection). */
static int64_t
s_user(bench_pub_t *self, long long idx)
{
    return self->creds[(size_t)idx % self->ncreds].user_id;
}

int
bench_pub_probe(bench_pub_t *self)
{
    if (self->cfg->scenario == BENCH_BROADCAST)
        return hm_bus_publish(self->pub, HM_TOPIC_ALL_NOTIFY, self->probe);
    for (int i = 0; i < self->cfg->connections; i++) {
        int64_t user = s_user(self, i);
        if (self->cfg->scenario == BENCH_CHAT)
            snprintf(self->topic, sizeof(self->topic), "u.%lld.chat", (long long)user);
        else
            snprintf(self->topic, sizeof(self->topic), HM_TOPIC_USER_HEALTH_FMT, (long long)user);
        self->probe->user_id = user;
        if (hm_bus_publish(self->pub, self->topic, self->probe) != 0)
            return -1;
    }
    return 0;
}

int
bench_pub_event(bench_pub_t *self, long long i)
{
    hm_envelope_t *env = self->env;
    const char *topic = HM_TOPIC_ALL_NOTIFY;
    char id[HM_UUID_STRLEN];
    hm_uuid4(id);
    hm_envelope_set_id(env, id);
    env->ts = hm_clock_wall_ms();
    if (self->cfg->scenario == BENCH_PERUSER) {
        int n = self->cfg->connections;
        env->user_id = s_user(self, i % n);
        env->seq = i / n + 1;
        json_integer_set(self->id, i + 1);
        json_integer_set(self->value, 60 + i % 40);
        snprintf(self->topic, sizeof(self->topic), HM_TOPIC_USER_HEALTH_FMT,
                 (long long)env->user_id);
        topic = self->topic;
    } else {
        env->seq = i + 1;
        json_string_set(self->id, id);
    }
    json_integer_set(self->seq, env->seq);
    json_integer_set(self->t_ns, bench_now_ns());
    return hm_bus_publish(self->pub, topic, env);
}
