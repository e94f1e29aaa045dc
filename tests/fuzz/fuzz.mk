# tests/fuzz/fuzz.mk - build the libFuzzer targets with clang (GNU make).
#
# `make fuzz` runs this with the variables below set from the configured
# build.  The library sources are compiled again here, with clang and
# -fsanitize=fuzzer-no-link,address,undefined, into $(FUZZ_DIR): the
# in-tree build is gcc and libtool, and libFuzzer needs clang's coverage
# instrumentation in the code it explores.
#
#   top_srcdir, top_builddir   where the sources and config.h are
#   FUZZ_SOURCES               the library's sources (libstrata_core_la_SOURCES)
#   DEP_CFLAGS, DEP_LIBS       sqlite3, libpq and libyaml flags
#   FUZZ_DIR                   output folder (fuzz-build)
#   FUZZ_CC                    clang

FUZZ_DIR ?= fuzz-build
FUZZ_CC ?= clang
FUZZ_TARGETS ?= url lexer revision config
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS ?= -g -O1 -fno-omit-frame-pointer
FUZZ_ALL_CFLAGS = $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -std=c11 -Wall \
	-I$(top_srcdir)/include -I$(top_builddir) -I$(top_srcdir)/src -I$(top_srcdir)/engines \
	-I$(top_srcdir)/migrations \
	-I$(top_srcdir)/tests/fuzz -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(DEP_CFLAGS) -MMD -MP

OBJ = $(FUZZ_DIR)/obj
LIB_OBJS = $(patsubst %.c,$(OBJ)/%.o,$(filter %.c,$(FUZZ_SOURCES)))

all: $(addprefix $(FUZZ_DIR)/fuzz-,$(FUZZ_TARGETS))

$(OBJ)/%.o: $(top_srcdir)/%.c
	@mkdir -p $(dir $@)
	@echo "  CLANG    $*.c"
	@$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz-%: $(OBJ)/tests/fuzz/fuzz_%.o $(OBJ)/tests/fuzz/fuzz_util.o $(LIB_OBJS)
	@echo "  LINK     $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer $^ $(DEP_LIBS) -o $@

.PHONY: all
.SECONDARY:
-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
