# bs_embed_files(OUTPUT <file.c> SYMBOL <prefix> FILES <f1> <f2> ...)
#
# Generates a C file with each input file's bytes as a NUL-terminated array and
# a table naming them, so binaries carry the checked-in schemas and
# migrations and never depend on the source tree at run time:
#
#   const struct bs_embedded_file <prefix>_files[];  (name, data, size)
#   const size_t <prefix>_count;
#
# `name` is the file's base name; the table is in the order FILES gives.
function(bs_embed_files)
    cmake_parse_arguments(E "" "OUTPUT;SYMBOL" "FILES" ${ARGN})
    add_custom_command(
        OUTPUT ${E_OUTPUT}
        COMMAND ${CMAKE_COMMAND} -DOUTPUT=${E_OUTPUT} -DSYMBOL=${E_SYMBOL}
                "-DFILES=${E_FILES}" -P ${PROJECT_SOURCE_DIR}/cmake/EmbedRun.cmake
        DEPENDS ${E_FILES} ${PROJECT_SOURCE_DIR}/cmake/EmbedRun.cmake
        COMMENT "Embedding ${E_SYMBOL}"
        VERBATIM)
endfunction()
