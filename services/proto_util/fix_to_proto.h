#pragma once
// A core Fix as the ingest API's Fix message (proto/smartbus/v1/types.proto): what every client
// that sends fixes to smartbusd uses (smartbus sim and push, the JT/T 808 gateway). Unknown
// optional values (NaN, -1) are left unset; the device report only when present.

#include "services/core/tracking/types.h"
#include "smartbus/v1/types.pb.h"

namespace smartbus {

void FixToProto(const Fix& f, smartbus::v1::Fix* out);

}  // namespace smartbus
