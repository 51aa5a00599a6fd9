#pragma once
// Fetching a feed: http:// and https:// with libcurl (Debian's libcurl4-openssl-dev: TLS with
// the system's CA certificates, gzip/deflate accepted, redirects followed, keep-alive across
// polls of one Fetcher), anything else read as a local file (file:// or a path).
//
// Thread safety: one Fetcher per thread (it keeps a curl handle).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/gtfs_rt/gtfs_rt_feed.h"

namespace smartbus::gtfs_rt {

struct FetchOptions {
  // Whole request (connect + transfer). Default 10 s.
  absl::Duration timeout = absl::Seconds(10);
  // Bodies larger than this are refused (kTooLarge). Default 64 MiB: NYC's TripUpdates for
  // 5,801 trips are 3.3 MB, so this is ~20x the largest real feed we have.
  size_t max_bytes = 64u << 20;
};

struct FetchResult {
  absl::Status status;            // OK: body holds the feed
  FeedError error = FeedError::kFetch;  // the kind, when !status.ok()
  std::string body;
  int http_status = 0;            // 0 for files
};

class Fetcher {
 public:
  explicit Fetcher(FetchOptions options = {});
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Fetches `url_or_file` into result->body (reusing its buffer).
  void Fetch(const std::string& url_or_file, FetchResult* result);

 private:
  void FetchHttp(const std::string& url, FetchResult* result);
  void FetchFile(const std::string& path, FetchResult* result);

  const FetchOptions options_;
  void* curl_ = nullptr;  // CURL*
};

// Whether a source names an http(s) URL (else a file).
bool IsHttpUrl(const std::string& url_or_file);

}  // namespace smartbus::gtfs_rt
