/*
 * bench_proc.c - CPU and memory of the server processes from /proc.
 */
#include "bench_proc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* PIDs from a comma-separated list. Returns the count, or -1 on junk. */
static int
s_parse_list(bench_procs_t *p, const char *list)
{
    const char *s = list;
    while (*s) {
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || p->n >= BENCH_PIDS_MAX)
            return -1;
        p->pid[p->n++] = (pid_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return p->n;
}

/* The PID of the only process whose comm is name; 0 when none or several
 * (*several set). */
static pid_t
s_find(const char *name, int *several)
{
    DIR *d = opendir("/proc");
    pid_t found = 0;
    *several = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[300], comm[64] = "";
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0 || pid == getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
        if (strcmp(comm, name) != 0)
            continue;
        if (found)
            *several = 1;
        found = (pid_t)pid;
    }
    if (d)
        closedir(d);
    return *several ? 0 : found;
}

int
bench_procs_init(bench_procs_t *p, const char *role, const char *list, const char *name, int quiet)
{
    memset(p, 0, sizeof(*p));
    p->role = role;
    if (list && *list) {
        if (s_parse_list(p, list) < 0) {
            fprintf(stderr, "hm-bench: bad %s PID list '%s'\n", role, list);
            p->n = 0;
        }
        return p->n;
    }
    int several = 0;
    pid_t pid = s_find(name, &several);
    if (pid > 0)
        p->pid[p->n++] = pid;
    else if (!quiet)
        fprintf(stderr, "hm-bench: %s %s process: pass --%s-pid for its CPU and memory\n",
                several ? "more than one" : "no", name, role);
    return p->n;
}

/* utime + stime of pid in clock ticks, or -1. */
static long long
s_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    /* comm may hold spaces and parentheses: fields restart after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (long long)(utime + stime);
}

int
bench_procs_add(bench_procs_t *p, pid_t pid)
{
    if (p->n >= BENCH_PIDS_MAX)
        return -1;
    p->pid[p->n++] = pid;
    return 0;
}

double
bench_procs_cpu_s(const bench_procs_t *p)
{
    if (p->n == 0)
        return -1;
    long long total = 0;
    for (int i = 0; i < p->n; i++) {
        long long t = s_ticks(p->pid[i]);
        if (t < 0)
            return -1;
        total += t;
    }
    return (double)total / (double)sysconf(_SC_CLK_TCK);
}

static long long
s_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return kb;
}

long long
bench_procs_rss_kb(const bench_procs_t *p)
{
    if (p->n == 0)
        return -1;
    long long total = 0;
    for (int i = 0; i < p->n; i++) {
        long long kb = s_rss_kb(p->pid[i]);
        if (kb < 0)
            return -1;
        total += kb;
    }
    return total;
}

long
bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}
