/*
 * bench_proc.h - the server processes as /proc shows them: CPU time
 * (utime + stime of all threads, /proc/<pid>/stat) and resident memory
 * (VmRSS, /proc/<pid>/status); and this process's open-files limit.
 */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

#include <stdint.h>
#include <sys/types.h>

#define BENCH_PIDS_MAX 64

/* A set of processes playing one role ("edge": one or more hm-edge). */
typedef struct {
    const char *role; /* "edge", "broker", "auth"; borrowed */
    int n;            /* PIDs in pid */
    pid_t pid[BENCH_PIDS_MAX];
} bench_procs_t;

/* Fills p from "123,456", or when list is empty from the processes whose
 * comm is name (only when exactly one matches, else none, with a warning
 * unless quiet). Returns the number of PIDs. */
int bench_procs_init(bench_procs_t *p, const char *role, const char *list, const char *name,
                     int quiet);

/* Adds pid to the set. Returns 0, or -1 when the set is full. */
int bench_procs_add(bench_procs_t *p, pid_t pid);

/* Total CPU seconds of the set (utime + stime), or -1 when any PID is gone
 * or the set is empty. */
double bench_procs_cpu_s(const bench_procs_t *p);

/* Total VmRSS in KiB, or -1. */
long long bench_procs_rss_kb(const bench_procs_t *p);

/* Raises RLIMIT_NOFILE's soft limit to the hard limit. Returns the new soft
 * limit. */
long bench_raise_nofile(void);

#endif /* BENCH_PROC_H */
