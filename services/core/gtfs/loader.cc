#include "services/core/gtfs/feed.h"

namespace smartbus {

absl::StatusOr<GtfsFeed> LoadGtfs(const std::vector<std::string>&, const GtfsLoadOptions&) {
  return absl::UnimplementedError("LoadGtfs: not implemented yet");
}

}  // namespace smartbus
