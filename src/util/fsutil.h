/* fsutil.h — small file helpers: whole-file reads with caps, atomic writes, mkdir -p, rm -rf. */
#pragma once

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* reads at most max bytes of dirfd/path (AT_FDCWD for plain paths); more is an error */
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
                 struct kiln_err **err);
/* reads an open fd to EOF, at most max bytes; what names the file in messages */
int read_fd_all(int fd, const char *what, size_t max, char **ret, size_t *ret_len,
                struct kiln_err **err);
/* writes path through a temporary file in the same directory and renames it into place */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      struct kiln_err **err);
int write_all(int fd, const void *data, size_t len);
/* copies in to EOF into out: 0, or -errno with *ret_write_failed telling which side failed
 * (true: writing out, false: reading in) */
int copy_fd(int in, int out, bool *ret_write_failed);
/* read until len bytes or EOF; returns bytes read or -errno */
ssize_t read_full(int fd, void *buf, size_t len);
int mkdir_p(const char *path, mode_t mode, struct kiln_err **err);
/* removes dirfd/name and everything below it, not following symlinks; missing is fine */
int rm_rf_at(int dirfd, const char *name, struct kiln_err **err);
int rm_rf(const char *path, struct kiln_err **err);
/* lexical clean of an absolute or relative path, as Go's filepath.Clean ("" -> ".") */
char *path_clean(const char *p);
/* the names in directory fd (not "." or ".."), sorted by byte order; fd stays open */
int dir_list_names(int fd, const char *what, char ***ret, struct kiln_err **err);
/* joins a and b with exactly one '/' */
char *path_join(const char *a, const char *b);
