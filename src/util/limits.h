/* limits.h — caps on every size read from the network or a file (STYLE.md "Memory"). */
#pragma once

#define LIMIT_MANIFEST   (4u << 20)  /* manifest or index body */
#define LIMIT_CONFIG     (8u << 20)  /* image config blob */
#define LIMIT_DOCKERFILE (4u << 20)  /* Dockerfile */
#define LIMIT_HEADER     (64u << 10) /* one HTTP header line */
#define LIMIT_TOKEN      (1u << 20)  /* token endpoint reply */
#define LIMIT_ERROR_BODY (64u << 10) /* registry error body kept for messages */
#define LIMIT_PATH       4096        /* a path inside a root or a layer */
#define LIMIT_LAYERS     1024        /* layers in one image */
#define LIMIT_WORD       (1u << 20)  /* an expanded Dockerfile word */
#define LIMIT_SMALL_FILE (1u << 20)  /* passwd, group, config.json, ... */
