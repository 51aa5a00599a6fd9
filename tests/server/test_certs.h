// Test certificates made with the openssl command (Debian's openssl package), for the TLS and
// HTTPS tests. Each returns false when the command is missing or fails (the test then skips).
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace smartbus::testing {

// A self-signed certificate for localhost/127.0.0.1 in dir/<name>.crt, .key.
inline bool MakeCert(const std::string& dir, const std::string& name) {
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + dir + "/" + name +
      ".key -out " + dir + "/" + name + ".crt >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// A certificate authority dir/<ca>.crt, .key (EC P-256: quick to make).
inline bool MakeCa(const std::string& dir, const std::string& ca) {
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                          "-nodes -days 2 -subj /CN=" + ca + " -keyout " + dir + "/" + ca +
                          ".key -out " + dir + "/" + ca + ".crt >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// dir/<name>.crt, .key: a server certificate for localhost/127.0.0.1 signed by the CA
// dir/<ca>.crt (MakeCa).
inline bool MakeSignedCert(const std::string& dir, const std::string& ca, const std::string& name) {
  const std::string p = dir + "/" + name;
  { std::ofstream(p + ".ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"; }
  const std::string cmd =
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
      "-keyout " + p + ".key -out " + p + ".csr >/dev/null 2>&1 && openssl x509 -req -in " + p +
      ".csr -CA " + dir + "/" + ca + ".crt -CAkey " + dir + "/" + ca + ".key -CAcreateserial "
      "-days 2 -extfile " + p + ".ext -out " + p + ".crt >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace smartbus::testing
