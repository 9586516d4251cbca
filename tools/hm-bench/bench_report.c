/*
 * bench_report.c - JSON report and the readable table (bench_report.h).
 */
#include "bench_report.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "hm_clock.h"

#define S_NS 1e9

/* A real rounded to 0.1 (or null when not known). */
static json_t *
s_real(double v, bool known)
{
    return known && isfinite(v) ? json_real(round(v * 10) / 10) : json_null();
}

/* A real rounded to 0.001 (or null). */
static json_t *
s_fine(double v, bool known)
{
    return known && isfinite(v) ? json_real(round(v * 1000) / 1000) : json_null();
}

static json_t *
s_us(int64_t ns)
{
    return s_real((double)ns / 1000.0, true);
}

static json_t *
s_latency(const bench_hist_t *h)
{
    if (h->count == 0)
        return json_null();
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "p50", s_us(bench_hist_pct(h, 50)), "p90",
                     s_us(bench_hist_pct(h, 90)), "p99", s_us(bench_hist_pct(h, 99)), "p999",
                     s_us(bench_hist_pct(h, 99.9)), "max", s_us(h->max), "mean",
                     s_us((int64_t)(h->sum / (double)h->count)));
}

static json_t *
s_failed(const bench_cfg_t *cfg, const bench_counts_t *t)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "connect", (json_int_t)t->fail_connect, "upgrade",
                     (json_int_t)t->fail_upgrade, "auth", (json_int_t)t->fail_auth, "closed",
                     (json_int_t)t->fail_closed, "pending",
                     (json_int_t)(cfg->connections - t->settled));
}

/* Does the scenario deliver events? */
static bool
s_has_events(const bench_cfg_t *cfg)
{
    return cfg->scenario != BENCH_CONNECT && cfg->scenario != BENCH_IDLE;
}

/* CPU seconds of the server roles a delivered message costs: edge and
 * broker, plus the service on the path. *known false when one is unknown. */
static double
s_server_cpu(const bench_cfg_t *cfg, const bench_result_t *r, bool *known)
{
    int roles[3] = {BENCH_EDGE, BENCH_BROKER, -1};
    if (cfg->scenario == BENCH_FULLPATH)
        roles[2] = BENCH_HEALTH;
    else if (cfg->scenario == BENCH_CHAT)
        roles[2] = BENCH_CHATSVC;
    double sum = 0;
    *known = true;
    for (int i = 0; i < 3; i++) {
        if (roles[i] < 0)
            continue;
        *known = *known && r->cpu_s[roles[i]] >= 0;
        sum += r->cpu_s[roles[i]];
    }
    return sum;
}

static json_t *
s_count(int64_t v, bool known)
{
    return known ? json_integer(v) : json_null();
}

/* The figures of fullpath, chat and reconnect (null for the others). */
static void
s_clients(json_t *j, const bench_cfg_t *cfg, const bench_result_t *r)
{
    const bench_counts_t *t = &r->total;
    bool sends = cfg->scenario == BENCH_FULLPATH || cfg->scenario == BENCH_CHAT;
    bool rec = cfg->scenario == BENCH_RECONNECT;
    bool any = sends || rec;
    json_object_set_new(j, "sent", s_count(t->sent, sends));
    json_object_set_new(j, "acked", s_count(t->acked, sends));
    json_object_set_new(j, "refused", s_count(t->refused, sends));
    json_object_set_new(j, "gaps", s_count(t->gaps, any));
    json_object_set_new(j, "other", s_count(t->other, any));
    json_object_set_new(j, "window", s_count(cfg->window, cfg->scenario == BENCH_FULLPATH));
    json_object_set_new(j, "ack_us",
                        cfg->scenario == BENCH_FULLPATH ? s_latency(&r->aux) : json_null());
    json_object_set_new(j, "oneway_us",
                        cfg->scenario == BENCH_CHAT ? s_latency(&r->aux) : json_null());
    json_object_set_new(j, "resume_us", rec ? s_latency(&r->aux) : json_null());
    json_object_set_new(j, "restart", rec ? json_string(cfg->restart_how) : json_null());
    json_object_set_new(j, "rounds", s_count(r->rounds, rec));
    json_object_set_new(j, "rounds_before_restart",
                        s_count((int64_t)(cfg->rounds_before >= 1 ? cfg->rounds_before : 1), rec));
    json_object_set_new(j, "rounds_until_up", s_count(r->rounds_up, rec));
    json_object_set_new(j, "dropped", s_count(t->dropped, rec));
    json_object_set_new(j, "reconnected", s_count(t->reconnected, rec));
    json_object_set_new(j, "resumed", s_count(t->resumed, rec));
    json_object_set_new(j, "retries", s_count(t->retries, rec));
    json_object_set_new(j, "downtime_s",
                        s_fine((double)(r->t_up - r->t_kill) / S_NS, rec && r->t_up && r->t_kill));
    json_object_set_new(
        j, "resume_s",
        s_fine((double)(t->t_last_resumed - r->t_up) / S_NS, rec && r->t_up && t->t_last_resumed));
    json_object_set_new(j, "resume_complete",
                        rec ? json_boolean(t->resumed >= t->ready && t->ready > 0) : json_null());
}

/* Delivery figures: counts, rates, latency, CPU per event. */
static void
s_delivery(json_t *j, const bench_cfg_t *cfg, const bench_result_t *r)
{
    const bench_counts_t *t = &r->total;
    bool events = s_has_events(cfg);
    int64_t unique = t->received - t->duplicates;
    double pub_s = (double)(r->t_pub_last - r->t_pub_first) / S_NS;
    double dur_s = (double)(t->t_last_rx - r->t_pub_first) / S_NS;
    bool srv_known = false;
    double srv = s_server_cpu(cfg, r, &srv_known);
    if (cfg->scenario == BENCH_RECONNECT) /* the window is the resume, not the run */
        srv_known = false;
    json_object_set_new(j, "published", json_integer(r->published));
    json_object_set_new(j, "expected", json_integer(t->expected));
    json_object_set_new(j, "delivered", json_integer(t->received));
    json_object_set_new(j, "lost", json_integer(t->expected > unique ? t->expected - unique : 0));
    json_object_set_new(j, "duplicates", json_integer(t->duplicates));
    json_object_set_new(j, "published_per_s",
                        s_real((double)r->published / pub_s, events && pub_s > 0));
    json_object_set_new(j, "delivered_per_s",
                        s_real((double)t->received / dur_s, events && t->received && dur_s > 0));
    json_object_set_new(j, "duration_s", s_fine(dur_s, events && t->received > 0));
    json_object_set_new(j, "latency_us", s_latency(&r->lat));
    json_object_set_new(
        j, "server_cpu_us_per_msg",
        s_real(srv * 1e6 / (double)t->received, events && srv_known && t->received > 0));
}

/* Connection figures: set-up rate and latency, CPU per connection, memory. */
static void
s_connections(json_t *j, const bench_cfg_t *cfg, const bench_result_t *r)
{
    const bench_counts_t *t = &r->total;
    double span = (double)(t->t_last_ready - t->t_first_connect) / S_NS;
    double all = r->cpu_s[BENCH_EDGE] + r->cpu_s[BENCH_BROKER] + r->cpu_s[BENCH_AUTH];
    bool all_known =
        r->cpu_s[BENCH_EDGE] >= 0 && r->cpu_s[BENCH_BROKER] >= 0 && r->cpu_s[BENCH_AUTH] >= 0;
    bool connect = cfg->scenario == BENCH_CONNECT;
    int64_t conns = t->ready;
    if (cfg->scenario == BENCH_RECONNECT) { /* per reconnection, hm-health's replays too */
        all += r->cpu_s[BENCH_HEALTH];
        all_known = all_known && r->cpu_s[BENCH_HEALTH] >= 0;
        connect = true;
        conns = t->reconnected;
    }
    json_object_set_new(j, "setup_us", s_latency(&r->setup));
    json_object_set_new(j, "connect_per_s", s_real((double)t->ready / span, t->ready && span > 0));
    json_object_set_new(j, "server_cpu_us_per_conn",
                        s_real(all * 1e6 / (double)conns, connect && all_known && conns));
    json_t *cpu = json_object();
    const char *roles[BENCH_ROLES] = {"edge", "broker", "auth", "bench", "health", "chat"};
    for (int i = 0; i < BENCH_ROLES; i++)
        json_object_set_new(cpu, roles[i], s_fine(r->cpu_s[i], r->cpu_s[i] >= 0));
    json_object_set_new(j, "cpu_s", cpu);
    json_object_set_new(j, "window_s", s_fine(r->window_s, true));
    json_object_set_new(j, "bench_cpu_pct",
                        s_real(r->cpu_s[BENCH_CLIENT] * 100 / r->window_s,
                               r->cpu_s[BENCH_CLIENT] >= 0 && r->window_s > 0));
    bool rss = r->rss_kb >= 0 && r->rss_base_kb >= 0;
    json_object_set_new(j, "edge_rss_base_kb", rss ? json_integer(r->rss_base_kb) : json_null());
    json_object_set_new(j, "edge_rss_kb", r->rss_kb >= 0 ? json_integer(r->rss_kb) : json_null());
    json_object_set_new(j, "edge_rss_per_conn_b",
                        s_real((double)(r->rss_kb - r->rss_base_kb) * 1024.0 / (double)t->ready,
                               rss && t->ready > 0));
}

json_t *
bench_report_json(const bench_cfg_t *cfg, const bench_result_t *r)
{
    const bench_counts_t *t = &r->total;
    char now[40];
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:I, s:o, s:I, s:s, s:i, s:I, s:f, s:i}", "scenario",
        cfg->scenario_name, "label", cfg->label, "time",
        hm_clock_iso8601(hm_clock_wall_ms(), now, sizeof(now)), "connections", cfg->connections,
        "workers", cfg->workers, "source_addrs", cfg->source_addrs, "path", cfg->path, "ready",
        (json_int_t)t->ready, "failed", s_failed(cfg, t), "closed_after_ready",
        (json_int_t)t->closed_ready, "last_error", t->last_error, "last_close", t->last_close,
        "events", (json_int_t)cfg->events, "rate", cfg->rate, "payload", cfg->payload);
    if (!j)
        return NULL;
    s_delivery(j, cfg, r);
    s_connections(j, cfg, r);
    s_clients(j, cfg, r);
    json_object_set_new(j, "hold_s", s_real(cfg->hold_s, cfg->scenario == BENCH_IDLE));
    bool events = s_has_events(cfg);
    json_object_set_new(j, "warm_complete", events ? json_boolean(r->warm_complete) : json_null());
    if (!events) { /* what was not used is not reported */
        json_object_set_new(j, "events", json_null());
        json_object_set_new(j, "rate", json_null());
        json_object_set_new(j, "payload", json_null());
    }
    json_object_set_new(j, "setup_complete", json_boolean(r->setup_complete));
    return j;
}

/* ---- the table -------------------------------------------------------- */

/* report[key] (or report[key][sub]) divided by div with prec decimals,
 * formatted into buf; "-" when missing or null. */
static const char *
s_cell(const json_t *report, const char *key, const char *sub, double div, int prec, char *buf,
       size_t len)
{
    const json_t *v = json_object_get(report, key);
    if (sub)
        v = json_object_get(v, sub);
    if (!json_is_number(v))
        return "-";
    snprintf(buf, len, "%.*f", prec, json_number_value(v) / div);
    return buf;
}

#define S_ROW "%-22.22s %7s %7s %8s %6s %10s %9s %9s %9s %7s %8s %8s %9s %10s %6s\n"

void
bench_report_header(FILE *f)
{
    fprintf(f, S_ROW, "scenario", "conns", "ready", "events", "rate", "deliv/s", "p50_us", "p99_us",
            "max_us", "lost", "srv_us", "conn/s", "setup99ms", "rss_B/conn", "bench%");
}

void
bench_report_row(FILE *f, const json_t *report)
{
    char b[15][32];
    const char *label = json_string_value(json_object_get(report, "label"));
    const char *name =
        label && *label ? label : json_string_value(json_object_get(report, "scenario"));
    const char *scenario = json_string_value(json_object_get(report, "scenario"));
    bool connect = scenario && strcmp(scenario, "connect") == 0;
    bool rec = scenario && strcmp(scenario, "reconnect") == 0;
    const char *lat = rec ? "resume_us" : "latency_us"; /* reconnect: edge back to resumed */
    const json_t *jrate = json_object_get(report, "rate");
    const char *rate = !json_is_number(jrate)         ? "-"
                       : json_number_value(jrate) > 0 ? s_cell(report, "rate", NULL, 1, 0, b[3], 32)
                                                      : "max";
    fprintf(f, S_ROW, name ? name : "?", s_cell(report, "connections", NULL, 1, 0, b[0], 32),
            s_cell(report, "ready", NULL, 1, 0, b[1], 32),
            s_cell(report, "events", NULL, 1, 0, b[2], 32), rate,
            s_cell(report, "delivered_per_s", NULL, 1, 0, b[4], 32),
            s_cell(report, lat, "p50", 1, 0, b[5], 32), s_cell(report, lat, "p99", 1, 0, b[6], 32),
            s_cell(report, lat, "max", 1, 0, b[7], 32),
            s_cell(report, "lost", NULL, 1, 0, b[8], 32),
            connect || rec ? s_cell(report, "server_cpu_us_per_conn", NULL, 1, 1, b[9], 32)
                           : s_cell(report, "server_cpu_us_per_msg", NULL, 1, 2, b[9], 32),
            s_cell(report, "connect_per_s", NULL, 1, 0, b[10], 32),
            s_cell(report, "setup_us", "p99", 1000, 1, b[11], 32),
            s_cell(report, "edge_rss_per_conn_b", NULL, 1, 0, b[12], 32),
            s_cell(report, "bench_cpu_pct", NULL, 1, 0, b[13], 32));
}

void
bench_report_legend(FILE *f)
{
    fprintf(f, "deliv/s: events received per second, first publish to last receipt; p50/p99/max: "
               "publish-to-receipt latency (us) (fullpath: submit to own receipt; chat: round "
               "trip; reconnect: edge back to resumed, per connection); lost: expected - "
               "delivered;\n"
               "srv_us: edge+broker CPU us per delivered event, fullpath +health, chat +chat "
               "(connect: edge+broker+auth per connection, reconnect: +health per reconnection); "
               "conn/s: connect+authenticate+subscribe per second;\n"
               "setup99ms: p99 connect() to subscribed; rss_B/conn: edge RSS growth per ready "
               "connection; bench%%: hm-bench's own CPU in the window (100 = one core: the load "
               "generator was the limit).\n");
}

int
bench_report_files(FILE *f, int n, char **paths)
{
    int rows = 0, rc = 0;
    bench_report_header(f);
    for (int i = 0; i < n; i++) {
        FILE *in = fopen(paths[i], "r");
        if (!in) {
            fprintf(stderr, "hm-bench: cannot read %s\n", paths[i]);
            rc = 1;
            continue;
        }
        char line[65536];
        while (fgets(line, sizeof(line), in)) {
            json_t *j = json_loads(line, 0, NULL);
            if (json_is_object(j)) {
                bench_report_row(f, j);
                rows++;
            }
            json_decref(j);
        }
        fclose(in);
    }
    bench_report_legend(f);
    return rc == 0 && rows > 0 ? 0 : 1;
}
