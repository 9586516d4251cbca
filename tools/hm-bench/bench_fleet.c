/*
 * bench_fleet.c - forking the workers, their loop, and their reports.
 */
#include "bench_fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_pool.h"

#define S_REPORT_NS 100000000LL /* status at most this often while it changes */

typedef struct {
    pid_t pid;           /* 0 once reaped */
    int cmd;             /* write end of the command pipe; -1 closed */
    int rep;             /* read end of the report pipe; -1 at EOF */
    bench_counts_t last; /* latest report */
} s_worker_t;

struct bench_fleet {
    int n;         /* workers */
    s_worker_t *w; /* n workers; owned */
};

/* ---- the worker side ---------------------------------------------------- */

/* Writes all of len bytes (blocking). Returns 0 or -1. */
static int
s_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads all of len bytes (blocking). Returns 0, or -1 at EOF or error. */
static int
s_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads the command pipe and obeys. Returns true when the worker should
 * end. */
static bool
s_command(bench_pool_t *pool, int cmd)
{
    bench_cmd_t c = {0};
    ssize_t n = read(cmd, &c, sizeof(c));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (n != (ssize_t)sizeof(c) || c.cmd == 'q')
        return true;
    if (c.cmd == 'g')
        bench_pool_go(pool);
    else if (c.cmd == 'r')
        bench_pool_reconnect(pool, c.arg, c.t);
    return false;
}

/* Sends a status report when it is due. A full pipe skips it (the next one
 * carries the same counters, newer). */
static void
s_report(bench_pool_t *pool, int rep, bench_counts_t *sent, int64_t *sent_at)
{
    bench_counts_t *k = bench_pool_counts(pool);
    int64_t now = bench_now_ns();
    bool milestone =
        (k->settled == k->share && sent->settled != k->share) ||
        (k->received >= k->expected && k->expected > 0 && sent->received < sent->expected) ||
        k->warm != sent->warm || k->resumed != sent->resumed ||
        k->reconnected != sent->reconnected || k->dropped != sent->dropped;
    if (memcmp(k, sent, sizeof(*k)) == 0 || (!milestone && now - *sent_at < S_REPORT_NS))
        return;
    if (write(rep, k, sizeof(*k)) == (ssize_t)sizeof(*k)) {
        *sent = *k;
        *sent_at = now;
    }
}

/* A worker's life. Returns its exit code. */
static int
s_worker(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds, int w, int cmd, int rep)
{
    int lo = (int)((long long)w * cfg->connections / cfg->workers);
    int hi = (int)((long long)(w + 1) * cfg->connections / cfg->workers);
    bench_pool_t *pool = bench_pool_new(cfg, creds, ncreds, lo, hi);
    if (!pool)
        return 1;
    bench_pool_counts(pool)->worker = w;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = BENCH_POOL_USER_KEY};
    epoll_ctl(bench_pool_epfd(pool), EPOLL_CTL_ADD, cmd, &ev);
    fcntl(rep, F_SETFL, O_NONBLOCK);
    bench_counts_t sent;
    memset(&sent, 0xff, sizeof(sent)); /* anything differs: the first report goes out */
    int64_t sent_at = 0;
    struct epoll_event evs[512];
    bool quit = false;
    while (!quit) {
        bench_pool_open_more(pool);
        int n = epoll_wait(bench_pool_epfd(pool), evs, 512, bench_pool_timeout_ms(pool));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == BENCH_POOL_USER_KEY)
                quit = quit || s_command(pool, cmd);
            else
                bench_pool_event(pool, evs[i].data.u64, evs[i].events);
        }
        bench_pool_tick(pool);
        s_report(pool, rep, &sent, &sent_at);
    }
    fcntl(rep, F_SETFL, 0);
    bench_counts_t *k = bench_pool_counts(pool);
    k->final = 1;
    int rc = s_write_all(rep, k, sizeof(*k)) == 0 &&
                     s_write_all(rep, bench_pool_latency(pool), sizeof(bench_hist_t)) == 0 &&
                     s_write_all(rep, bench_pool_setup(pool), sizeof(bench_hist_t)) == 0 &&
                     s_write_all(rep, bench_pool_aux(pool), sizeof(bench_hist_t)) == 0
                 ? 0
                 : 1;
    bench_pool_destroy(&pool);
    return rc;
}

/* ---- the coordinator side ----------------------------------------------- */

/* In the child of fork number i: runs worker i and frees the fleet copy.
 * Returns the worker's exit code. */
static int
s_child(bench_fleet_t *self, int i, const bench_cfg_t *cfg, const bench_cred_t *creds,
        size_t ncreds, const int cmd[2], const int rep[2])
{
    signal(SIGPIPE, SIG_IGN);
    for (int k = 0; k < i; k++) { /* earlier workers' pipes are not ours */
        close(self->w[k].cmd);
        close(self->w[k].rep);
    }
    close(cmd[1]);
    close(rep[0]);
    int rc = s_worker(cfg, creds, ncreds, i, cmd[0], rep[1]);
    close(cmd[0]);
    close(rep[1]);
    free(self->w);
    free(self);
    return rc;
}

bench_fleet_t *
bench_fleet_start(const bench_cfg_t *cfg, const bench_cred_t *creds, size_t ncreds, int *worker_rc)
{
    *worker_rc = -1;
    bench_fleet_t *self = calloc(1, sizeof(*self));
    if (self)
        self->w = calloc((size_t)cfg->workers, sizeof(s_worker_t));
    if (!self || !self->w) {
        free(self);
        return NULL;
    }
    self->n = cfg->workers;
    for (int i = 0; i < self->n; i++)
        self->w[i].cmd = self->w[i].rep = -1;
    fflush(NULL);
    for (int i = 0; i < self->n; i++) {
        int cmd[2] = {-1, -1}, rep[2] = {-1, -1};
        if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0) {
            fprintf(stderr, "hm-bench: pipe: %s\n", strerror(errno));
            for (int k = 0; k < 2; k++)
                if (cmd[k] >= 0)
                    close(cmd[k]);
            bench_fleet_destroy(&self);
            return NULL;
        }
        pid_t pid = fork();
        if (pid == 0) {
            *worker_rc = s_child(self, i, cfg, creds, ncreds, cmd, rep);
            return NULL;
        }
        close(cmd[0]);
        close(rep[1]);
        self->w[i] = (s_worker_t){.pid = pid, .cmd = cmd[1], .rep = rep[0]};
        if (pid < 0) {
            fprintf(stderr, "hm-bench: fork: %s\n", strerror(errno));
            bench_fleet_destroy(&self);
            return NULL;
        }
    }
    return self;
}

int
bench_fleet_pids(bench_fleet_t *self, int *pids, int max)
{
    int n = 0;
    for (int i = 0; i < self->n && n < max; i++)
        if (self->w[i].pid > 0)
            pids[n++] = self->w[i].pid;
    return n;
}

int
bench_fleet_poll(bench_fleet_t *self, int timeout_ms)
{
    struct pollfd pfd[self->n];
    int live = 0, got = 0;
    for (int i = 0; i < self->n; i++) {
        pfd[i] = (struct pollfd){.fd = self->w[i].rep, .events = POLLIN};
        live += self->w[i].rep >= 0;
    }
    if (live == 0)
        return -1;
    if (poll(pfd, (nfds_t)self->n, timeout_ms) <= 0)
        return 0;
    for (int i = 0; i < self->n; i++) {
        if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        bench_counts_t k;
        if (s_read_all(self->w[i].rep, &k, sizeof(k)) != 0) {
            fprintf(stderr, "hm-bench: worker %d ended early\n", i);
            close(self->w[i].rep);
            self->w[i].rep = -1;
            continue;
        }
        self->w[i].last = k;
        got++;
    }
    return got;
}

/* Adds one worker's counters into total. */
static void
s_add(bench_counts_t *t, const bench_counts_t *k)
{
    int64_t *sum[] = {&t->share,        &t->settled,   &t->ready,       &t->warm,
                      &t->received,     &t->expected,  &t->duplicates,  &t->fail_connect,
                      &t->fail_upgrade, &t->fail_auth, &t->fail_closed, &t->closed_ready,
                      &t->bytes_in,     &t->sent,      &t->acked,       &t->refused,
                      &t->gaps,         &t->dropped,   &t->reconnected, &t->resumed,
                      &t->retries,      &t->other};
    const int64_t *add[] = {&k->share,        &k->settled,   &k->ready,       &k->warm,
                            &k->received,     &k->expected,  &k->duplicates,  &k->fail_connect,
                            &k->fail_upgrade, &k->fail_auth, &k->fail_closed, &k->closed_ready,
                            &k->bytes_in,     &k->sent,      &k->acked,       &k->refused,
                            &k->gaps,         &k->dropped,   &k->reconnected, &k->resumed,
                            &k->retries,      &k->other};
    for (size_t i = 0; i < sizeof(sum) / sizeof(sum[0]); i++)
        *sum[i] += *add[i];
    if (k->t_first_connect && (!t->t_first_connect || k->t_first_connect < t->t_first_connect))
        t->t_first_connect = k->t_first_connect;
    if (k->t_first_rx && (!t->t_first_rx || k->t_first_rx < t->t_first_rx))
        t->t_first_rx = k->t_first_rx;
    if (k->t_last_ready > t->t_last_ready)
        t->t_last_ready = k->t_last_ready;
    if (k->t_last_rx > t->t_last_rx)
        t->t_last_rx = k->t_last_rx;
    if (k->t_last_resumed > t->t_last_resumed)
        t->t_last_resumed = k->t_last_resumed;
    if (k->t_first_send && (!t->t_first_send || k->t_first_send < t->t_first_send))
        t->t_first_send = k->t_first_send;
    if (k->last_close)
        t->last_close = k->last_close;
    if (k->last_error[0])
        memcpy(t->last_error, k->last_error, sizeof(t->last_error));
}

void
bench_fleet_total(bench_fleet_t *self, bench_counts_t *total)
{
    memset(total, 0, sizeof(*total));
    for (int i = 0; i < self->n; i++)
        s_add(total, &self->w[i].last);
}

/* Reads worker i's reports up to its final one and its histograms.
 * Returns 0 or -1. */
static int
s_collect(s_worker_t *w, bench_hist_t *lat, bench_hist_t *setup, bench_hist_t *aux)
{
    bench_counts_t k;
    while (w->rep >= 0 && s_read_all(w->rep, &k, sizeof(k)) == 0) {
        w->last = k;
        if (!k.final)
            continue;
        bench_hist_t *h = malloc(sizeof(*h));
        int rc = h && s_read_all(w->rep, h, sizeof(*h)) == 0 ? 0 : -1;
        if (rc == 0)
            bench_hist_merge(lat, h);
        if (rc == 0 && (rc = s_read_all(w->rep, h, sizeof(*h))) == 0)
            bench_hist_merge(setup, h);
        if (rc == 0 && (rc = s_read_all(w->rep, h, sizeof(*h))) == 0)
            bench_hist_merge(aux, h);
        free(h);
        return rc;
    }
    return -1;
}

int
bench_fleet_command(bench_fleet_t *self, char cmd, int64_t arg, int64_t t)
{
    bench_cmd_t c;
    memset(&c, 0, sizeof(c)); /* no uninitialised padding on the pipe */
    c.cmd = cmd;
    c.arg = arg;
    c.t = t;
    int rc = 0;
    for (int i = 0; i < self->n; i++)
        if (self->w[i].cmd >= 0 && s_write_all(self->w[i].cmd, &c, sizeof(c)) != 0)
            rc = -1;
    return rc;
}

int
bench_fleet_finish(bench_fleet_t *self, bench_counts_t *total, bench_hist_t *lat,
                   bench_hist_t *setup, bench_hist_t *aux)
{
    int rc = bench_fleet_command(self, 'q', 0, 0);
    for (int i = 0; i < self->n; i++) {
        if (s_collect(&self->w[i], lat, setup, aux) != 0) {
            fprintf(stderr, "hm-bench: worker %d gave no final report\n", i);
            rc = -1;
        }
    }
    bench_fleet_total(self, total);
    for (int i = 0; i < self->n; i++) {
        int status = 0;
        if (self->w[i].pid > 0 && waitpid(self->w[i].pid, &status, 0) == self->w[i].pid) {
            self->w[i].pid = 0;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                rc = -1;
        }
    }
    return rc;
}

void
bench_fleet_destroy(bench_fleet_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bench_fleet_t *self = *self_p;
    for (int i = 0; i < self->n; i++) {
        if (self->w[i].cmd >= 0)
            close(self->w[i].cmd); /* EOF on the command pipe ends a worker */
        if (self->w[i].rep >= 0)
            close(self->w[i].rep);
        if (self->w[i].pid > 0)
            waitpid(self->w[i].pid, NULL, 0);
    }
    free(self->w);
    free(self);
    *self_p = NULL;
}
