/* warmer.h — the cache warmer command (kaniko's /kaniko/warmer) */
#pragma once

/* argv[0] is the command name; returns the exit status */
int warmer_main(int argc, char **argv);
