#include "services/gtfs_rt/fetch.h"

#include <curl/curl.h>

#include <cstdio>
#include <fstream>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace smartbus::gtfs_rt {
namespace {

struct Sink {
  std::string* body;
  size_t max_bytes;
  bool too_large = false;
};

size_t Write(char* data, size_t size, size_t n, void* user) {
  Sink* s = static_cast<Sink*>(user);
  const size_t bytes = size * n;
  if (s->body->size() + bytes > s->max_bytes) {
    s->too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  s->body->append(data, bytes);
  return bytes;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

bool IsHttpUrl(const std::string& s) {
  return absl::StartsWithIgnoreCase(s, "http://") || absl::StartsWithIgnoreCase(s, "https://");
}

Fetcher::Fetcher(FetchOptions options) : options_(options) {}

Fetcher::~Fetcher() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

void Fetcher::Fetch(const std::string& url_or_file, FetchResult* r) {
  r->status = absl::OkStatus();
  r->body.clear();
  r->http_status = 0;
  if (IsHttpUrl(url_or_file)) {
    FetchHttp(url_or_file, r);
  } else {
    FetchFile(absl::StartsWith(url_or_file, "file://") ? url_or_file.substr(7) : url_or_file, r);
  }
}

void Fetcher::FetchFile(const std::string& path, FetchResult* r) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    r->error = FeedError::kFetch;
    r->status = absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
    return;
  }
  const std::streamoff size = in.tellg();
  if (size < 0 || static_cast<size_t>(size) > options_.max_bytes) {
    r->error = FeedError::kTooLarge;
    r->status = absl::ResourceExhaustedError(absl::StrCat(
        path, ": ", size, " bytes, over the limit of ", options_.max_bytes,
        " (--gtfs_rt_max_bytes)"));
    return;
  }
  r->body.resize(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(r->body.data(), size)) {
    r->error = FeedError::kFetch;
    r->status = absl::DataLossError(absl::StrCat(path, ": read failed"));
  }
}

void Fetcher::FetchHttp(const std::string& url, FetchResult* r) {
  GlobalInit();
  if (!curl_) curl_ = curl_easy_init();
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) {
    r->error = FeedError::kFetch;
    r->status = absl::InternalError("curl_easy_init failed");
    return;
  }
  Sink sink{&r->body, options_.max_bytes};
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // every encoding curl can decode
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_bytes));
  curl_easy_setopt(c, CURLOPT_USERAGENT, "smartbusd-gtfs-rt-poller/0.1");
  const CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  r->http_status = static_cast<int>(status);
  if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    r->error = FeedError::kTooLarge;
    r->status = absl::ResourceExhaustedError(absl::StrCat(
        url, ": body over the limit of ", options_.max_bytes, " bytes (--gtfs_rt_max_bytes)"));
    return;
  }
  if (rc != CURLE_OK) {
    r->error = FeedError::kFetch;
    r->status = absl::UnavailableError(
        absl::StrCat(url, ": ", err[0] ? err : curl_easy_strerror(rc)));
    return;
  }
  if (status != 200) {
    r->error = FeedError::kHttpStatus;
    r->status = absl::UnavailableError(absl::StrCat(url, ": HTTP status ", status));
  }
}

}  // namespace smartbus::gtfs_rt
