// A smartbusd started in process on the minimal test feed, for the server tests.
#pragma once

#include <memory>

#include "gtest/gtest.h"
#include "services/server/server.h"
#include "tests/core/gtfs/test_feed.h"

namespace smartbus::server {

// A started server on the minimal feed (in `tmp`) with `adjust` applied to its options; *out
// stays empty when it cannot start (the failure is recorded).
template <typename F>
void StartMinimalServer(const smartbus::testing::TempDir& tmp,
                        std::unique_ptr<SmartbusServer>* out, F adjust) {
  ServerOptions opt;
  opt.gtfs = {smartbus::testing::WriteFeedDir(tmp.path() + "/feed", smartbus::testing::MinimalFeed())};
  opt.listen = "127.0.0.1:0";
  opt.clock_follows_fixes = true;
  opt.log = false;
  adjust(opt);
  auto server = SmartbusServer::Create(opt);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  *out = *std::move(server);
}

}  // namespace smartbus::server
