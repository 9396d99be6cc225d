// Experiment aid (bench/README.md, "The journal's flush off the event loop"): an
// LD_PRELOAD library that makes fsync(2)/fdatasync(2) on the journal's files
// (journal.sqlite, -wal) take SLOWSYNC_US microseconds longer — the flush of a Pi's SD
// card (milliseconds) on this machine's SSD (~0.2 ms). Other files are untouched.
//   gcc -shared -fPIC -O2 -o /tmp/slow-fsync.so bench/slow-fsync.c -ldl
//   SLOWSYNC_US=5000 LD_PRELOAD=/tmp/slow-fsync.so npm run bench -- --only latency --commit-ms 2 …
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int is_journal(int fd) {
  char link[64], path[512];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return strstr(path, "journal.sqlite") != NULL;
}

static void slow_down(int fd) {
  const char *us = getenv("SLOWSYNC_US");
  if (us && is_journal(fd)) usleep((useconds_t)atoi(us));
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  slow_down(fd);
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  slow_down(fd);
  return real(fd);
}
