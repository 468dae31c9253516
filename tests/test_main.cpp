// Test entry point for Catch2 v2; v3 brings its own main through Catch2::Catch2WithMain.
#if !__has_include(<catch2/catch_test_macros.hpp>)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
