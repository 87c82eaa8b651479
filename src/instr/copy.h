/* copy.h — internal to instr: what the three files of COPY and ADD share. copy.c is the copy
 * engine (the instruction's flow, the copy of files, trees and their metadata, the layer);
 * copysrc.c resolves sources (the context with its .dockerignore, an earlier stage, an image,
 * heredocs, globs, --exclude); add.c is ADD's own: URLs and local archives. */
#pragma once

#include "instr.h"
#include "plan/copyspec.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* a regular file that goes straight from the source into the layer (no later step reads the
 * root), or another name of one (link_to) */
struct streamed {
	char *dest;   /* absolute in the destination root */
	char *source; /* relative to the source root (srcfd) */
	struct stat st;
	char *link_to; /* another name of the same file in this layer, or NULL */
};

/* one source file copied before with more than one link: later names become hard links */
struct copied_inode {
	dev_t dev;
	ino_t ino;
	char *dest;
};

/* one COPY/ADD while it runs; everything it owns goes in copy_ctx_release (every return of
 * instr_copy, error paths included, goes through it: cleanup attribute) */
struct copy_ctx {
	struct stage *s;
	const struct df_instr *in;
	const struct copy_spec *spec;
	int srcfd;        /* context or stage root (borrowed, or ctxfd) */
	int ctxfd;        /* the context directory when it is the source, else -1 (owned) */
	const char *what; /* "build context" or "stage" for messages */
	uid_t uid;        /* (uid_t)-1: 0 */
	gid_t gid;
	bool chmod_set;
	mode_t chmod;
	char **written; /* absolute paths in the destination root, for the layer */
	const struct dockerignore *ignore; /* .dockerignore, for context sources only */
	struct dockerignore *exclude;      /* --exclude patterns (owned), or NULL */
	bool keep_owner;                   /* COPY --from: owners as in the source */
	bool unpacked; /* ADD unpacked an archive: the layer is a diff of the root */
	struct copied_inode *inodes;
	size_t n_inodes, cap_inodes;
	/* no later step reads the root: regular files go straight from the source into the
	 * layer (one read of each byte, no write to the disk) */
	bool stream;
	const char *src_top; /* the top-level source being copied, relative to srcfd */
	struct streamed *streamed;
	size_t n_streamed, cap_streamed;
};

/* the local sources of one instruction, index by index */
struct copy_sources {
	char **paths;    /* as matched, relative to the source root ("." for the root) */
	char **resolved; /* the same with links resolved inside the root ("" for the root) */
	char **pivots;   /* the prefix --parents drops (before a "/./"), "" when none */
	size_t n;
};

/* copy.c: the engine */
void note_written(struct copy_ctx *c, const char *abs);
/* owner (--chown, the source's for --from, else 0:0), mode (--chmod or the source's) and
 * times of the new dirfd/name */
int apply_meta(struct copy_ctx *c, int dirfd, const char *name, const struct stat *src,
               bool is_link, const char *abs, struct kiln_err **err);
/* creates abs (replacing a non-directory there) with mode; ret_dirfd/ret_name address it, and
 * ret_fd is closed with forkguard_close (cleanup_guarded_close) */
int create_dest_file(struct copy_ctx *c, const char *abs, mode_t mode, int *ret_dirfd,
                     char **ret_name, int *ret_fd, struct kiln_err **err);
/* the layer of what the step wrote (or the diff of the root after an archive) */
int copy_commit(struct copy_ctx *c, struct kiln_err **err);

/* copysrc.c: sources */
bool copy_is_url(const char *w);
/* sets srcfd (with what, ignore, keep_owner): an earlier stage or image for --from, else the
 * context; errors are the step's (prefixed with the instruction) */
int copy_source_root(struct copy_ctx *c, struct kiln_err **err);
/* the sources named by words[0..n) (URLs aside for ADD): globs expanded, what .dockerignore
 * or --exclude leaves out dropped, links resolved inside the source root */
int copy_sources_resolve(struct copy_ctx *c, char *const *words, size_t n, struct copy_sources *ret,
                         struct kiln_err **err);
void copy_sources_release(struct copy_sources *srcs);
/* whether a source path (relative to the context or stage root, and relative to the source
 * being copied) is left out by .dockerignore or --exclude */
bool copy_excluded(const struct copy_ctx *c, const char *rel, const char *in_src);
/* an excluded directory must still be walked when an exception may re-include below it */
bool copy_descend_anyway(const struct copy_ctx *c, const char *rel);
/* the content of a heredoc source, expanded unless its delimiter was quoted */
int copy_heredoc_content(struct copy_ctx *c, const struct copy_heredoc *h, char **ret,
                         struct kiln_err **err);

/* add.c: ADD's own */
/* downloads the URL sources among words[0..n) to dest; *ret_n_urls counts them. Refuses git
 * sources and --checksum without a URL */
int add_urls(struct copy_ctx *c, char *const *words, size_t n, const char *dest, bool dest_dir,
             size_t *ret_n_urls, struct kiln_err **err);
/* ADD of a local file: when the source (open as /proc/self/fd path pp) is a tar archive, it is
 * unpacked at dir and 1 is returned; 0 when it is to be copied as a file */
int add_local_archive(struct copy_ctx *c, const char *pp, const struct stat *st, const char *src,
                      const char *dir, struct kiln_err **err);
/* before ADD writes anything: the root's index synced when an archive may be unpacked */
int add_prepare(struct copy_ctx *c, struct kiln_err **err);
