#include "services/store/store.h"

#include "absl/strings/str_cat.h"
#include "services/store/memory_store.h"
#include "services/store/redis_store.h"

namespace smartbus {

absl::StatusOr<std::unique_ptr<Store>> OpenStore(absl::string_view url,
                                                 const StoreOptions& options) {
  if (url.empty() || url == "memory") return std::make_unique<MemoryStore>(options);
  auto address = ParseRedisUrl(url);
  if (!address.ok()) return address.status();
  return std::make_unique<RedisStore>(*std::move(address), options);
}

}  // namespace smartbus
