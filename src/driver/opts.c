/* opts.c — kaniko's defaults for struct build_opts, and releasing one. */
#include <stddef.h> /* opts.h uses size_t without including it */

#include "driver/opts.h"

#include "util/strv.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* containerd's platforms.Format(Normalize(DefaultSpec())) for the architecture kiln was built
 * for, as Go's GOARCH is fixed at build time: arm64 gets its normalised "v8" variant. */
static char *host_platform(void)
{
#if defined(__x86_64__)
	return xstrdup("linux/amd64");
#elif defined(__aarch64__)
	return xstrdup("linux/arm64/v8");
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 5
	return xasprintf("linux/arm/v%d", __ARM_ARCH);
#elif defined(__i386__)
	return xstrdup("linux/386");
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	return xstrdup("linux/ppc64le");
#elif defined(__s390x__)
	return xstrdup("linux/s390x");
#elif defined(__riscv) && defined(__riscv_xlen) && __riscv_xlen == 64
	return xstrdup("linux/riscv64");
#else
#error "unknown architecture: teach host_platform() its GOARCH name"
#endif
}

/* String fields whose kaniko default is "" stay NULL. */
void build_opts_init(struct build_opts *o)
{
	const char *kdir = getenv("KANIKO_DIR");
	const char *bsize = getenv("KILN_BLOB_STORE_SIZE");

	*o = (struct build_opts){
	    .verbosity = xstrdup("info"),
	    .log_format = xstrdup("color"),
	    .dockerfile = xstrdup("Dockerfile"),
	    .context = xstrdup("/workspace/"),
	    .custom_platform = host_platform(),
	    .compression_level = -1,
	    .cache_dir = xstrdup("/cache"),
	    .cache_ttl_ns = 336LL * 3600 * 1000000000LL,
	    .cache_run_layers = true,
	    .compressed_caching = true,
	    .snapshot_mode = xstrdup("full"),
	    .ignore_var_run = true,
	    .skip_unused_stages = true, /* BuildKit's behaviour; kaniko's default is false */
	    /* kaniko reads KANIKO_DIR once at start; --kaniko-dir overrides it */
	    .kaniko_dir = xstrdup(kdir && *kdir ? kdir : "/kaniko"),
	    .isolation = xstrdup("auto"),
	    .stage_storage = xstrdup("auto"),
	    .blob_store_size = xstrdup(bsize && *bsize ? bsize : "5G"),
	};
}

static void kv_free(struct opt_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void build_opts_release(struct build_opts *o)
{
	free(o->verbosity);
	free(o->log_format);
	free(o->dockerfile);
	free(o->context);
	free(o->context_sub_path);
	free(o->bucket);
	strv_free(o->git);
	strv_free(o->build_args);
	free(o->target);
	free(o->custom_platform);
	strv_free(o->labels);
	strv_free(o->destinations);
	free(o->tar_path);
	free(o->oci_layout_path);
	free(o->digest_file);
	free(o->image_name_with_digest_file);
	free(o->image_name_tag_with_digest_file);
	free(o->compression);
	free(o->cache_repo);
	free(o->cache_dir);
	free(o->snapshot_mode);
	strv_free(o->ignore_paths);
	free(o->kaniko_dir);
	free(o->isolation);
	free(o->stage_storage);
	free(o->blob_store_size);
	strv_free(o->insecure_registries);
	strv_free(o->skip_tls_verify_registries);
	kv_free(o->registry_certificates, o->n_registry_certificates);
	kv_free(o->registry_client_certs, o->n_registry_client_certs);
	strv_free(o->registry_maps);
	strv_free(o->registry_mirrors);
	strv_free(o->ca_files);
	*o = (struct build_opts){0};
}
