// Precompiled header of the test targets that link sb_server (tests/CMakeLists.txt,
// SMARTBUS_TEST_PCH): test_pch.h plus gRPC, the API's generated code and
// services/server/server.h, which every server test file includes (~5 s of parsing each).
// Not httplib.h: <netdb.h> defines a NO_DATA macro that files including the GTFS-RT header
// after it must not see.
#include "tests/pch/test_pch.h"

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/server/server.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
