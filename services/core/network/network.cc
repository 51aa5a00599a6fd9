#include "services/core/network/network.h"

namespace smartbus {

absl::StatusOr<std::shared_ptr<const Network>> Network::Build(GtfsFeed, const NetworkOptions&) {
  return absl::UnimplementedError("Network::Build: not implemented yet");
}

}  // namespace smartbus
