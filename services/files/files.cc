#include "services/files/files.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace smartbus {
namespace {

// Rows are buffered up to about this many bytes before a write: large sequential writes, and a
// bounded buffer (a replay of the NYC feeds writes gigabytes).
constexpr size_t kFlushBytes = (size_t{1} << 20) - 4096;

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path, absl::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    return absl::NotFoundError(
        absl::StrCat("cannot read ", what, " ", path, ": ", std::strerror(errno)));
  std::string content;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) content.append(buf, n);
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) return absl::DataLossError(absl::StrCat("error reading ", what, " ", path));
  return content;
}

absl::Status WriteStringToFile(const std::string& path, absl::string_view bytes,
                               absl::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", what, " ", path, ": ", std::strerror(errno)));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok)
    return absl::DataLossError(absl::StrCat("error writing ", what, " ", path));
  return absl::OkStatus();
}

absl::Status WriteFilesToDirectory(const std::string& dir, const std::vector<TextFile>& files) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat(dir, ": cannot create directory: ", ec.message()));
  for (const TextFile& file : files) {
    const std::string path = (std::filesystem::path(dir) / file.name).string();
    if (absl::Status s = WriteStringToFile(path, file.text, "feed file"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

CsvFileWriter::~CsvFileWriter() { (void)Close(); }

absl::Status CsvFileWriter::Open(const std::string& path, absl::string_view header) {
  (void)Close();
  file_ = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (!file_)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  path_ = path;
  buf_.reserve(kFlushBytes + 4096);
  buf_.assign(header.data(), header.size());
  return absl::OkStatus();
}

absl::Status CsvFileWriter::Flush() {
  if (!file_ || buf_.empty()) return absl::OkStatus();
  size_t n = std::fwrite(buf_.data(), 1, buf_.size(), file_);
  bool short_write = n != buf_.size();
  buf_.clear();
  if (short_write) return absl::DataLossError(absl::StrCat("error writing ", path_));
  return absl::OkStatus();
}

absl::Status CsvFileWriter::MaybeFlush() {
  if (buf_.size() < kFlushBytes) return absl::OkStatus();
  return Flush();
}

absl::Status CsvFileWriter::Close() {
  if (!file_) return absl::OkStatus();
  absl::Status s = Flush();
  int rc = file_ == stdout ? std::fflush(stdout) : std::fclose(file_);
  if (rc != 0 && s.ok()) s = absl::DataLossError(absl::StrCat("error closing ", path_));
  file_ = nullptr;
  return s;
}

}  // namespace smartbus
