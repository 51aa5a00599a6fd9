#pragma once
// What a benchmark or a process test measures of a running process (Linux /proc): resident
// memory and CPU time. Shared by bench/server/server_load, bench/jt808/jt808_load and
// tests/server/fault_test.

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace smartbus::bench {

// Resident memory of a process (VmRSS, KiB); -1 when it cannot be read.
inline int64_t RssKiB(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  return -1;
}

// User + system CPU seconds of a process so far; NaN when it cannot be read.
inline double CpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos) return NAN;
  std::vector<std::string> fields = absl::StrSplit(all.substr(close + 2), ' ');
  if (fields.size() < 13) return NAN;
  return (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) / sysconf(_SC_CLK_TCK);
}

}  // namespace smartbus::bench
