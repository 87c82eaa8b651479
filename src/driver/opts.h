/* opts.h — everything the executor's command line (and its KANIKO_* environment overrides)
 * can say about one build. cli/ fills it; driver/ and below read it. Field names follow the
 * kaniko flag names (reference §1.2). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* key=value flags (--registry-certificate, --registry-client-cert): a repeated key overwrites */
struct opt_kv {
	char *key;
	char *value;
};

struct build_opts {
	/* global */
	char *verbosity;  /* "info" */
	char *log_format; /* "color" */
	bool log_timestamp;
	bool force;

	/* build input */
	char *dockerfile;       /* "Dockerfile" */
	char *context;          /* "/workspace/" */
	char *context_sub_path; /* "" */
	char *bucket;           /* hidden legacy flag */
	char **git;             /* --git key=value, one per occurrence */
	char **build_args;      /* "K=V", or "K" (filled from the environment by cli/) */
	char *target;
	bool skip_unused_stages;
	char *custom_platform; /* "linux/amd64" after defaulting */
	char **labels;         /* "k=v" */

	/* destinations and outputs */
	char **destinations;
	bool no_push;
	bool no_push_cache;
	char *tar_path;
	char *oci_layout_path;
	char *digest_file;
	char *image_name_with_digest_file;
	char *image_name_tag_with_digest_file;
	char *compression;     /* "" (gzip) | "gzip" | "zstd" */
	int compression_level; /* -1: default */
	bool reproducible;
	int push_retry;
	bool push_ignore_immutable_tag_errors;
	bool skip_push_permission_check;

	/* caching */
	bool cache;
	char *cache_repo;
	char *cache_dir;      /* "/cache" */
	int64_t cache_ttl_ns; /* 336h */
	bool cache_copy_layers;
	bool cache_run_layers;   /* true */
	bool compressed_caching; /* true */

	/* snapshotting and filesystem */
	char *snapshot_mode; /* "full" */
	bool single_snapshot;
	bool use_new_run;
	bool ignore_var_run; /* true */
	char **ignore_paths;
	bool force_build_metadata;
	bool cleanup;
	char *kaniko_dir; /* "/kaniko" or $KANIKO_DIR */
	int image_fs_extract_retry;
	int image_download_retry;
	char *isolation; /* kiln: "auto" | "chroot" | "inplace" */
	/* kiln: where chroot-mode stage roots live: "auto" | "disk" | "tmpfs" | "tmpfs:<size>" */
	char *stage_storage;
	/* kiln: bound of $KANIKO_DIR/blobs, "5G" (or $KILN_BLOB_STORE_SIZE), "unlimited" */
	char *blob_store_size;

	/* registry access */
	bool insecure;
	bool insecure_pull;
	char **insecure_registries;
	bool skip_tls_verify;
	bool skip_tls_verify_pull;
	char **skip_tls_verify_registries;
	struct opt_kv *registry_certificates;
	size_t n_registry_certificates;
	struct opt_kv *registry_client_certs;
	size_t n_registry_client_certs;
	char **registry_maps;    /* "orig=mirror[/prefix]" pairs, already split on ';' */
	char **registry_mirrors; /* each also becomes "index.docker.io=<mirror>" in registry_maps */
	bool skip_default_registry_fallback;

	/* not a flag: the extra CA files cli/ gives the registry client ($KANIKO_DIR/ssl/certs/
	 * ca-certificates.crt, /kaniko/ssl/certs/ca-certificates.crt when they exist); git
	 * contexts trust the same */
	char **ca_files;
};

void build_opts_init(struct build_opts *o); /* kaniko's defaults */
void build_opts_release(struct build_opts *o);
