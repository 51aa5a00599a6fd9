#pragma once
// The predictor's learned model in a file (`smartbus replay --model-in/--model-out`, the
// prediction benchmark): the bytes of LayeredPredictor::Serialize.

#include <string>

#include "absl/status/status.h"
#include "services/core/prediction/predictor.h"

namespace smartbus {

// Writes the model; errors name the file and the reason.
absl::Status SaveModelFile(const LayeredPredictor& predictor, const std::string& path);
// Replaces the predictor's model with the file's (Deserialize); errors name the file (and the
// line of a malformed model).
absl::Status LoadModelFile(const std::string& path, LayeredPredictor* predictor);

}  // namespace smartbus
