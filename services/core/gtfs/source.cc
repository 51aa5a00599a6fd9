#include "services/core/gtfs/source.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"

namespace smartbus {
namespace {

// A memory feed hands its bytes over in chunks of this size, as the file sources do, so that the
// loader's parse-while-reading path runs on it too.
constexpr size_t kMemoryChunkBytes = size_t{4} << 20;

}  // namespace

FileBuffer FileBuffer::Allocate(size_t size) {
  FileBuffer b;
  b.size = size;
  // Plain pages: transparent huge pages were measured slower here (zeroing 2 MiB at a time
  // evicts the cache that the decompressor writes through).
  char* p = static_cast<char*>(std::malloc(size + 1));
  if (!p) throw std::bad_alloc();
  p[size] = '\0';
  b.data.reset(p);
  return b;
}

absl::StatusOr<FileBuffer> FeedSource::Read(absl::string_view name) const {
  if (!Has(name)) {
    return absl::NotFoundError(absl::StrCat(Describe(name), ": missing"));
  }
  FileBuffer buf = FileBuffer::Allocate(Size(name));
  absl::Status s = ReadInto(name, buf.data.get(), buf.size, [](size_t) { return true; });
  if (!s.ok()) return s;
  return buf;
}

MemoryFeedSource::MemoryFeedSource(std::string path, Files files)
    : MemoryFeedSource(std::move(path), std::make_shared<const Files>(std::move(files))) {}

MemoryFeedSource MemoryFeedSource::FromFiles(std::string path, const std::vector<TextFile>& files) {
  Files by_name;
  for (const TextFile& f : files) by_name[f.name] = f.text;
  return MemoryFeedSource(std::move(path), std::move(by_name));
}

bool MemoryFeedSource::Has(absl::string_view name) const {
  return files_->find(std::string(name)) != files_->end();
}

size_t MemoryFeedSource::Size(absl::string_view name) const {
  auto it = files_->find(std::string(name));
  return it == files_->end() ? 0 : it->second.size();
}

absl::Status MemoryFeedSource::ReadInto(absl::string_view name, char* dest, size_t size,
                                        const std::function<bool(size_t)>& on_chunk) const {
  auto it = files_->find(std::string(name));
  if (it == files_->end()) return absl::NotFoundError(absl::StrCat(Describe(name), ": missing"));
  const std::string& bytes = it->second;
  if (bytes.size() != size) {
    return absl::DataLossError(absl::StrCat(Describe(name), ": holds ", bytes.size(),
                                            " bytes, not the ", size, " asked for"));
  }
  for (size_t done = 0; done < size;) {
    const size_t n = std::min(kMemoryChunkBytes, size - done);
    std::memcpy(dest + done, bytes.data() + done, n);
    done += n;
    if (!on_chunk(done)) return absl::CancelledError(Describe(name));
  }
  return absl::OkStatus();
}

std::string MemoryFeedSource::Describe(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}

absl::StatusOr<std::unique_ptr<FeedSource>> MemoryFeedSource::OpenAnother() const {
  return std::unique_ptr<FeedSource>(new MemoryFeedSource(path_, files_));
}

}  // namespace smartbus
