/* A failing disk flush, for `disk-campaign --fault fsync`: loaded with LD_PRELOAD into
 * the chatvault binary, it counts the calls to fsync and fdatasync (SQLite, tantivy and
 * Rust's File::sync_all/sync_data all end there) and makes the FAILFSYNC_AT-th call and
 * every later one fail with EIO, as a disk that went bad would. With FAILFSYNC_COUNT set
 * to a path, it writes the number of calls there when the process exits (to measure how
 * many flushes a writer makes). Hand-written because no library injects a failing
 * flush into an unmodified process without root (dm-flakey and friends need the device
 * mapper). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long calls;

static int should_fail(void) {
    long n = atomic_fetch_add(&calls, 1) + 1;
    const char *at = getenv("FAILFSYNC_AT");
    long k = at ? atol(at) : 0;
    return k > 0 && n >= k;
}

int fsync(int fd) {
    static int (*real)(int);
    if (should_fail()) {
        errno = EIO;
        return -1;
    }
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (should_fail()) {
        errno = EIO;
        return -1;
    }
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("FAILFSYNC_COUNT");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%ld\n", atomic_load(&calls));
    fclose(f);
}
