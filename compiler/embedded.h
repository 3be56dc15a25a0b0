/*
 * embedded.h: files built into the kiln binary (compiler/tools/embed.c): the runtime
 * sources that every output folder gets a copy of, and the boards.
 */
#ifndef KILN_EMBEDDED_H
#define KILN_EMBEDDED_H

#include <stddef.h>

typedef struct EmbeddedFile {
    const char *name;            /* file name in the output folder */
    const unsigned char *data;
    size_t size;
} EmbeddedFile;

extern const EmbeddedFile kiln_embedded[]; /* ends with {0} */
/* The boards of targets/boards/: "cortex-m4/board.txt", "cortex-m4/startup.c",
 * ... (targets/boards/board.c reads them); ends with {0}. */
extern const EmbeddedFile kiln_boards[];
/* kiln compare's harness sources (compiler/compare/), written only by it */
extern const EmbeddedFile kiln_compare_files[];

#endif
