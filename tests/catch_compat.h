// Catch2 v2 (Debian) and v3 (the GPU lab) under one include.
#pragma once
#include <string>

#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;
namespace vrwkv::test {
inline auto contains(const std::string& s) { return Catch::Matchers::ContainsSubstring(s); }
}  // namespace vrwkv::test
#else
#include <catch2/catch.hpp>
namespace vrwkv::test {
inline auto contains(const std::string& s) { return Catch::Matchers::Contains(s); }
}  // namespace vrwkv::test
#endif
