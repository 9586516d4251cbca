/*
 * bench_run.c - the coordinator's side of a scenario (bench_run.h).
 *
 * Windows the figures cover:
 *   connect:   first connect() to the last subscribed (rate); server CPU
 *              until 1 s later (the servers' tail: session bookkeeping)
 *   idle:      the hold, from 1 s after the set-up (server CPU); RSS before
 *              connecting and at the end
 *   broadcast,
 *   peruser:   first publish to the last receipt (rates, server CPU per
 *              delivered event), after a warm-up that proves every
 *              connection's subscription reached the publisher
 */
#include "bench_run.h"

#include <czmq.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_fleet.h"
#include "bench_proc.h"
#include "bench_pub.h"
#include "hm_ids.h"
#include "hm_mdp.h"
#include "hm_proto.h"

extern char **environ;

#define S_NS 1000000000LL
#define S_MS 1000000LL
#define S_SETTLE_MS 1000 /* the servers' tail after the set-up (connect, idle) */

int64_t
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * S_NS + ts.tv_nsec;
}

typedef struct {
    const bench_cfg_t *cfg;
    bench_fleet_t *fleet;
    bench_procs_t procs[BENCH_ROLES];
    bench_result_t *r;
    double cpu0[BENCH_ROLES]; /* at the start of the window */
} s_run_t;

static void
s_cpu_sample(s_run_t *run, double out[BENCH_ROLES])
{
    for (int i = 0; i < BENCH_ROLES; i++)
        out[i] = bench_procs_cpu_s(&run->procs[i]);
}

/* Closes the CPU window opened by s_cpu_sample(run, run->cpu0). */
static void
s_cpu_window(s_run_t *run, int64_t t0)
{
    double now[BENCH_ROLES];
    s_cpu_sample(run, now);
    for (int i = 0; i < BENCH_ROLES; i++)
        run->r->cpu_s[i] = now[i] >= 0 && run->cpu0[i] >= 0 ? now[i] - run->cpu0[i] : -1;
    run->r->window_s = (double)(bench_now_ns() - t0) / S_NS;
}

/* Polls the workers for ms. Returns -1 when all are gone or on SIGINT. */
static int
s_poll_for(s_run_t *run, int64_t ms)
{
    int64_t until = bench_now_ns() + ms * S_MS;
    do {
        int64_t left = (until - bench_now_ns()) / S_MS;
        if (bench_fleet_poll(run->fleet, (int)(left > 0 ? left : 0)) < 0 || zsys_interrupted)
            return -1;
    } while (bench_now_ns() < until);
    bench_fleet_total(run->fleet, &run->r->total);
    return 0;
}

/* Waits until every connection is ready or failed. Returns 0 or -1. */
static int
s_wait_setup(s_run_t *run)
{
    int64_t deadline = bench_now_ns() + (int64_t)run->cfg->setup_timeout_s * S_NS;
    bench_counts_t *t = &run->r->total;
    while (bench_now_ns() < deadline) {
        if (s_poll_for(run, 20) != 0)
            return -1;
        if (t->settled >= run->cfg->connections) {
            run->r->setup_complete = true;
            break;
        }
    }
    if (!run->r->setup_complete)
        fprintf(stderr, "hm-bench: %lld of %d connections not ready after %d s\n",
                (long long)(run->cfg->connections - t->settled), run->cfg->connections,
                run->cfg->setup_timeout_s);
    if (t->ready < run->cfg->connections)
        fprintf(stderr, "hm-bench: %lld connections failed (last error %s, last close %d)\n",
                (long long)(t->settled - t->ready), t->last_error[0] ? t->last_error : "-",
                t->last_close);
    return 0;
}

/* Probes until every ready connection has seen one. Returns 0 or -1. */
static int
s_warm_up(s_run_t *run, bench_pub_t *pub)
{
    int64_t deadline = bench_now_ns() + (int64_t)(run->cfg->warmup_s * S_NS);
    bench_counts_t *t = &run->r->total;
    while (t->warm < t->ready && bench_now_ns() < deadline) {
        if (bench_pub_probe(pub) != 0 || s_poll_for(run, 200) != 0)
            return -1;
    }
    run->r->warm_complete = t->warm >= t->ready;
    if (!run->r->warm_complete)
        fprintf(stderr, "hm-bench: %lld ready connections saw no warm-up probe in %.1f s\n",
                (long long)(t->ready - t->warm), run->cfg->warmup_s);
    return s_poll_for(run, 100); /* probes still on their way land before the events */
}

/* Waits until due, reading worker reports meanwhile. Returns 0 or -1. */
static int
s_wait_until(s_run_t *run, int64_t due)
{
    int64_t now;
    while ((now = bench_now_ns()) < due) {
        int64_t left = due - now;
        if (left > 2 * S_MS) {
            if (bench_fleet_poll(run->fleet, (int)(left / S_MS - 1)) < 0 || zsys_interrupted)
                return -1;
        } else {
            struct timespec ts = {0, (long)left};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

/* Publishes the events at the rate (or as fast as possible). */
static int
s_publish(s_run_t *run, bench_pub_t *pub)
{
    const bench_cfg_t *cfg = run->cfg;
    bench_result_t *r = run->r;
    r->t_pub_first = bench_now_ns();
    for (long long i = 0; i < cfg->events; i++) {
        if (cfg->rate > 0) {
            if (s_wait_until(run, r->t_pub_first + (int64_t)((double)i * S_NS / cfg->rate)))
                return -1;
        } else if (i % 1024 == 1023 && (bench_fleet_poll(run->fleet, 0) < 0 || zsys_interrupted)) {
            return -1;
        }
        if (bench_pub_event(pub, i) != 0) {
            fprintf(stderr, "hm-bench: publishing event %lld failed\n", i);
            return -1;
        }
        r->published++;
    }
    r->t_pub_last = bench_now_ns();
    return 0;
}

/* Waits for the events still on their way: until all are in, or nothing
 * has arrived for drain_ms. */
static int
s_drain(s_run_t *run)
{
    bench_counts_t *t = &run->r->total;
    int64_t last = bench_now_ns(), seen = -1;
    while (t->received < t->expected && bench_now_ns() - last < run->cfg->drain_ms * S_MS) {
        if (s_poll_for(run, 20) != 0)
            return -1;
        if (t->received != seen) {
            seen = t->received;
            last = bench_now_ns();
        }
    }
    return 0;
}

/* broadcast and peruser. */
static int
s_events(s_run_t *run, const bench_cred_t *creds, size_t ncreds)
{
    bench_pub_t *pub = bench_pub_new(run->cfg, creds, ncreds);
    if (!pub)
        return -1;
    int rc = s_warm_up(run, pub);
    s_cpu_sample(run, run->cpu0);
    if (rc == 0)
        rc = s_publish(run, pub);
    if (rc == 0)
        rc = s_drain(run);
    s_cpu_window(run, run->r->t_pub_first);
    bench_pub_destroy(&pub);
    return rc;
}

/* idle: hold the connections, watching for closes. The window opens after
 * a settle second: the servers finish the set-up's tail (auth's session
 * bookkeeping, the edge's lifecycle events) first. */
static int
s_hold(s_run_t *run)
{
    if (s_poll_for(run, S_SETTLE_MS) != 0)
        return -1;
    int64_t t0 = bench_now_ns();
    s_cpu_sample(run, run->cpu0);
    int rc = s_poll_for(run, (int64_t)(run->cfg->hold_s * 1000));
    s_cpu_window(run, t0);
    return rc;
}

/* ---- fullpath and chat: the clients send, the workers time it ---------- */

/* Messages the ready connections will send (what the workers counted as
 * expected, plus what the server refused: those are not expected). */
static int64_t
s_planned(const s_run_t *run)
{
    const bench_counts_t *t = &run->r->total;
    return run->cfg->scenario == BENCH_FULLPATH ? t->expected + t->refused : t->expected;
}

/* fullpath, chat: warm-up, go, wait until everything sent came back or
 * nothing moved for drain_ms. */
static int
s_clients_send(s_run_t *run, const bench_cred_t *creds, size_t ncreds)
{
    bench_pub_t *pub = bench_pub_new(run->cfg, creds, ncreds);
    if (!pub)
        return -1;
    int rc = s_warm_up(run, pub);
    bench_pub_destroy(&pub);
    bench_result_t *r = run->r;
    bench_counts_t *t = &r->total;
    s_cpu_sample(run, run->cpu0);
    r->t_pub_first = bench_now_ns();
    if (rc == 0)
        rc = bench_fleet_command(run->fleet, 'g', 0, 0);
    int64_t last = bench_now_ns(), seen_rx = -1, seen_tx = -1;
    while (rc == 0 && bench_now_ns() - last < run->cfg->drain_ms * S_MS) {
        if (s_poll_for(run, 20) != 0) {
            rc = -1;
            break;
        }
        if (!r->t_pub_last && t->sent >= s_planned(run))
            r->t_pub_last = bench_now_ns();
        if (t->sent >= s_planned(run) && t->received >= t->expected)
            break;
        if (t->received != seen_rx || t->sent != seen_tx) {
            seen_rx = t->received;
            seen_tx = t->sent;
            last = bench_now_ns();
        }
    }
    if (!r->t_pub_last)
        r->t_pub_last = bench_now_ns();
    r->published = t->sent;
    s_cpu_window(run, r->t_pub_first);
    return rc;
}

/* ---- reconnect: readings through hm-health while the edge restarts ----- */

#define S_FEED_INFLIGHT 1000 /* device readings in flight to hm-health */
#define S_FEED_RESEND_MS 5000

typedef struct {
    s_run_t *run;
    const bench_cred_t *creds;
    hm_mdp_client_t *mdp;
    zhashx_t *ids;              /* request id of this round -> user index + 1 */
    char (*id)[HM_UUID_STRLEN]; /* per user: this round's request id */
    uint8_t *done;              /* per user: acked this round */
    long long round;            /* rounds fully stored */
    int next;                   /* next user to send in this round */
    bool idle;                  /* the last round is stored, the next not started */
    int pending;                /* users of this round not acked yet */
    int inflight;
    int64_t t_sent; /* the last send of this round (resends after silence) */
    long long sent; /* requests sent since t0 (for the rate) */
    int64_t t0;     /* first send of this stretch, 0: not yet */
} s_feed_t;

static int
s_feed_send(s_feed_t *f, int i)
{
    const bench_cfg_t *cfg = f->run->cfg;
    hm_envelope_t *env = hm_envelope_new(HM_VERB_HEALTH_DEVICE_READING);
    if (!env)
        return -1;
    hm_envelope_set_id(env, f->id[i]);
    hm_envelope_set_data(env, json_pack("{s:I, s:s, s:s, s:i, s:s}", "user_id",
                                        (json_int_t)f->creds[i].user_id, "device_id", "hm-bench",
                                        "metric", "heart_rate", "value", 60 + (int)(f->round % 40),
                                        "unit", "bpm"));
    (void)cfg;
    int rc = hm_mdp_client_send(f->mdp, HM_SVC_HEALTH, env);
    hm_envelope_destroy(&env);
    f->inflight++;
    f->sent++;
    f->t_sent = bench_now_ns();
    return rc;
}

/* Starts round f->round: fresh ids. */
static void
s_feed_round(s_feed_t *f)
{
    int n = f->run->cfg->connections;
    zhashx_purge(f->ids);
    for (int i = 0; i < n; i++) {
        hm_uuid4(f->id[i]);
        zhashx_insert(f->ids, f->id[i], (void *)(intptr_t)(i + 1));
        f->done[i] = 0;
    }
    f->next = 0;
    f->pending = n;
    f->idle = false;
}

/* Sends what the rate and the in-flight bound allow, reads replies for up
 * to ms. Returns 0 or -1. A round whose last reply came in starts the
 * next one when more is true. */
static int
s_feed_step(s_feed_t *f, int ms, bool more)
{
    const bench_cfg_t *cfg = f->run->cfg;
    int n = cfg->connections;
    if (f->idle)
        s_feed_round(f);
    int64_t now = bench_now_ns();
    if (!f->t0)
        f->t0 = now;
    long long allowed =
        cfg->rate > 0 ? (long long)((double)(now - f->t0) * cfg->rate / 1e9) + 1 : LLONG_MAX;
    while (f->next < n && f->inflight < S_FEED_INFLIGHT && f->sent < allowed)
        if (s_feed_send(f, f->next++) != 0)
            return -1;
    if (f->next >= n && f->pending > 0 && now - f->t_sent > S_FEED_RESEND_MS * S_MS) {
        f->inflight = 0; /* silence: send again what is missing (same ids) */
        for (int i = 0; i < n; i++)
            if (!f->done[i] && s_feed_send(f, i) != 0)
                return -1;
    }
    zmq_pollitem_t item = {.socket = zsock_resolve(hm_mdp_client_sock(f->mdp)),
                           .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, ms) > 0) {
        char *service = NULL;
        hm_envelope_t *rep = NULL;
        while (hm_mdp_client_recv(f->mdp, &service, &rep) == 0) {
            intptr_t i = rep && rep->id ? (intptr_t)zhashx_lookup(f->ids, rep->id) : 0;
            if (i > 0 && f->inflight > 0)
                f->inflight--;
            if (i > 0 && strcmp(rep->type, HM_MSG_ACK) == 0 && !f->done[i - 1]) {
                f->done[i - 1] = 1;
                f->pending--;
            } else if (i > 0 && !f->done[i - 1] && s_feed_send(f, (int)i - 1) != 0) {
                return -1; /* refused (service_unavailable): again, same id */
            }
            free(service);
            hm_envelope_destroy(&rep);
        }
    }
    if (f->pending == 0 && f->next >= n) {
        f->round++;
        f->run->r->published += n;
        if (more)
            s_feed_round(f);
        else
            f->idle = true; /* until the next step */
    }
    return zsys_interrupted ? -1 : 0;
}

/* Feeds until round `until` is stored. Returns 0 or -1. */
static int
s_feed_until(s_feed_t *f, long long until)
{
    f->t0 = f->sent = 0; /* the rate starts again: no burst after a pause */
    while (f->round < until) {
        if (s_feed_step(f, 5, f->round + 1 < until) != 0 || bench_fleet_poll(f->run->fleet, 0) < 0)
            return -1;
    }
    bench_fleet_total(f->run->fleet, &f->run->r->total);
    return 0;
}

/* Waits until the workers received what is expected of them, or nothing
 * moved for drain_ms; with resume, also until every connection resumed. */
static int
s_wait_received(s_run_t *run, int64_t expected, bool resume)
{
    bench_counts_t *t = &run->r->total;
    int64_t start = bench_now_ns(), last = start, seen = -1;
    while (bench_now_ns() - last < run->cfg->drain_ms * S_MS &&
           bench_now_ns() - start < run->cfg->setup_timeout_s * S_NS) {
        if (s_poll_for(run, 20) != 0)
            return -1;
        if (t->received - t->duplicates >= expected && (!resume || t->resumed >= t->ready))
            return 0;
        int64_t progress = t->received + t->resumed + t->reconnected + t->retries + t->dropped;
        if (progress != seen) {
            seen = progress;
            last = bench_now_ns();
        }
    }
    fprintf(stderr, "hm-bench: %lld of %lld events in%s\n",
            (long long)(t->received - t->duplicates), (long long)expected,
            resume ? ", not every connection resumed" : "");
    return 0;
}

/* Runs the restart command; reads the new edge PIDs from its output. */
static int
s_restart(s_run_t *run, s_feed_t *f)
{
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char *argv[] = {"/bin/sh", "-c", (char *)run->cfg->restart_cmd, NULL};
    pid_t pid = 0;
    run->r->t_kill = bench_now_ns();
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        fprintf(stderr, "hm-bench: cannot run the restart command: %s\n", strerror(rc));
        return -1;
    }
    /* readings go on while the edge is down */
    f->t0 = f->sent = 0;
    int status = 0;
    pid_t done = 0;
    while (rc == 0 && (done = waitpid(pid, &status, WNOHANG)) == 0)
        rc = s_feed_step(f, 5, true);
    run->r->t_up = bench_now_ns();
    char buf[256] = "";
    ssize_t n = read(out[0], buf, sizeof(buf) - 1);
    close(out[0]);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, " \r\n")] = '\0';
    if (done == pid && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        fprintf(stderr, "hm-bench: the restart command failed (status %d)\n", status);
        rc = -1;
    }
    if (rc == 0 && *buf)
        bench_procs_init(&run->procs[BENCH_EDGE], "edge", buf, "hm-edge", 0);
    else if (rc == 0)
        run->procs[BENCH_EDGE].n = 0; /* the old PIDs are gone: CPU unknown */
    return rc;
}

/* reconnect: readings before, during and after an edge restart. */
static int
s_reconnect(s_run_t *run, const bench_cred_t *creds, size_t ncreds)
{
    const bench_cfg_t *cfg = run->cfg;
    bench_result_t *r = run->r;
    bench_counts_t *t = &r->total;
    bench_pub_t *pub = bench_pub_new(cfg, creds, ncreds);
    int rc = pub ? s_warm_up(run, pub) : -1;
    bench_pub_destroy(&pub);
    int n = cfg->connections;
    s_feed_t f = {.run = run, .creds = creds};
    f.mdp = hm_mdp_client_new(cfg->requests, 5000, 0);
    f.ids = zhashx_new();
    f.id = calloc((size_t)n, sizeof(*f.id));
    f.done = calloc((size_t)n, 1);
    if (!f.mdp || !f.ids || !f.id || !f.done) {
        fprintf(stderr, "hm-bench: cannot send requests on %s\n", cfg->requests);
        rc = -1;
    }
    long long before = cfg->rounds_before >= 1 ? (long long)cfg->rounds_before : 1;
    if (rc == 0) {
        s_feed_round(&f);
        r->t_pub_first = bench_now_ns();
        rc = s_feed_until(&f, before);
    }
    if (rc == 0)
        rc = s_wait_received(run, t->ready * before, false);
    if (rc == 0)
        rc = s_restart(run, &f);
    if (rc == 0) {
        r->rounds_up = f.round;
        s_cpu_sample(run, run->cpu0);
        run->cpu0[BENCH_EDGE] = 0; /* a new process: all its CPU is in the window */
        rc = bench_fleet_command(run->fleet, 'r', f.round, r->t_up);
    }
    if (rc == 0) {
        bool partial = !f.idle && f.next > 0;
        rc = s_feed_until(&f, r->rounds_up + (partial ? 1 : 0) + (long long)cfg->rounds_after);
        r->t_pub_last = bench_now_ns();
    }
    r->rounds = f.round;
    if (rc == 0)
        rc = s_wait_received(run, t->ready * f.round, true);
    s_cpu_window(run, r->t_up ? r->t_up : bench_now_ns());
    hm_mdp_client_destroy(&f.mdp);
    zhashx_destroy(&f.ids);
    free(f.id);
    free(f.done);
    return rc;
}

static int
s_scenario(s_run_t *run, const bench_cred_t *creds, size_t ncreds)
{
    switch (run->cfg->scenario) {
    case BENCH_CONNECT: /* CPU: with the set-up's tail, a settle second */
        if (s_poll_for(run, S_SETTLE_MS) != 0)
            return -1;
        s_cpu_window(run, run->r->total.t_first_connect ? run->r->total.t_first_connect
                                                        : bench_now_ns());
        return 0;
    case BENCH_IDLE:
        return s_hold(run);
    case BENCH_BROADCAST:
    case BENCH_PERUSER:
        return s_events(run, creds, ncreds);
    case BENCH_FULLPATH:
    case BENCH_CHAT:
        return s_clients_send(run, creds, ncreds);
    case BENCH_RECONNECT:
        return s_reconnect(run, creds, ncreds);
    default:
        return -1;
    }
}

int
bench_run(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds, bench_result_t *r,
          int *worker_rc)
{
    memset(r, 0, sizeof(*r));
    bench_hist_init(&r->lat);
    bench_hist_init(&r->setup);
    bench_hist_init(&r->aux);
    s_run_t run = {.cfg = cfg, .r = r};
    bench_procs_init(&run.procs[BENCH_EDGE], "edge", cfg->edge_pids, "hm-edge", 0);
    bench_procs_init(&run.procs[BENCH_BROKER], "broker", cfg->broker_pids, "hm-broker", 0);
    bench_procs_init(&run.procs[BENCH_AUTH], "auth", cfg->auth_pids, "hm-auth", 1);
    bool health = cfg->scenario == BENCH_FULLPATH || cfg->scenario == BENCH_RECONNECT;
    if (health || *cfg->health_pids)
        bench_procs_init(&run.procs[BENCH_HEALTH], "health", cfg->health_pids, "hm-health", 1);
    if (cfg->scenario == BENCH_CHAT || *cfg->chat_pids)
        bench_procs_init(&run.procs[BENCH_CHATSVC], "chat", cfg->chat_pids, "hm-chat", 1);
    bench_procs_t *client = &run.procs[BENCH_CLIENT];
    client->role = "bench";
    bench_procs_add(client, getpid());
    r->rss_base_kb = bench_procs_rss_kb(&run.procs[BENCH_EDGE]);
    s_cpu_sample(&run, run.cpu0);
    run.fleet = bench_fleet_start(cfg, creds, ncreds, worker_rc);
    if (!run.fleet)
        return -1;
    int pids[BENCH_PIDS_MAX];
    int n = bench_fleet_pids(run.fleet, pids, BENCH_PIDS_MAX - 1);
    for (int i = 0; i < n; i++)
        bench_procs_add(client, pids[i]);
    run.cpu0[BENCH_CLIENT] = bench_procs_cpu_s(client); /* workers start at 0 */
    int rc = s_wait_setup(&run);
    if (rc == 0)
        rc = s_scenario(&run, creds, ncreds);
    r->rss_kb = bench_procs_rss_kb(&run.procs[BENCH_EDGE]);
    if (bench_fleet_finish(run.fleet, &r->total, &r->lat, &r->setup, &r->aux) != 0)
        rc = -1;
    if (cfg->scenario == BENCH_RECONNECT) /* every user got every round */
        r->total.expected = r->total.ready * r->rounds;
    bench_fleet_destroy(&run.fleet);
    return rc;
}
