/* tmpclean.h — temporary files removed when kiln is stopped by SIGTERM, SIGINT or SIGHUP (a CI
 * job cancelled, a pod deleted): each file is registered while it exists; the signal handler
 * unlinks what is registered (async-signal-safe: unlinkat on a fixed table), then lets the
 * signal take its course (the previous handler, or the default action). */
#pragma once

/* registers dirfd/name (name at most 63 bytes); returns a slot for tmpclean_forget, or -1 when
 * the table is full (the file is then not cleaned on a signal) */
int tmpclean_register(int dirfd, const char *name);
/* the file was renamed or removed by its owner */
void tmpclean_forget(int slot);
