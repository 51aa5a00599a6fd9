#include <cstdio>

#include "services/cli/commands.h"

namespace smartbus::cli {

int RunReplay(int, char**) {
  std::fprintf(stderr, "smartbus: not implemented yet\n");
  return 1;
}

}  // namespace smartbus::cli
