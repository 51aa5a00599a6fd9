#pragma once
// The demo city network (data/demo-city), loaded once per test binary, and the Monday the
// simulator tests run.

#include <memory>
#include <string>

#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/files/feed_files.h"

namespace smartbus::testing {

inline constexpr int32_t kMonday = 20261123;

// nullptr when the feed cannot be loaded (the test then fails on it).
inline std::shared_ptr<const Network> DemoCity() {
  static std::shared_ptr<const Network> net = [] {
    auto feed = LoadGtfs({std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city"});
    if (!feed.ok()) return std::shared_ptr<const Network>();
    auto n = Network::Build(std::move(*feed));
    return n.ok() ? *n : std::shared_ptr<const Network>();
  }();
  return net;
}

}  // namespace smartbus::testing
