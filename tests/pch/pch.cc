// Compiled once per PCH target (tests/CMakeLists.txt); the precompiled header is its product.
