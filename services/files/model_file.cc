#include "services/files/model_file.h"

#include "absl/strings/str_cat.h"
#include "services/files/files.h"

namespace smartbus {

absl::Status SaveModelFile(const LayeredPredictor& predictor, const std::string& path) {
  return WriteStringToFile(path, predictor.Serialize(), "model file");
}

absl::Status LoadModelFile(const std::string& path, LayeredPredictor* predictor) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path, "model file");
  if (!bytes.ok()) return bytes.status();
  absl::Status st = predictor->Deserialize(*bytes);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", st.message()));
  return absl::OkStatus();
}

}  // namespace smartbus
