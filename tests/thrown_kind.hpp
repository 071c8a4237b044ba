// The kind of the mhc::Error that f throws; a test failure (and ErrorKind::internal) when f
// returns normally.
#pragma once

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace mhc::test {

template <class F>
ErrorKind thrown_kind(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no mhc::Error thrown";
  return ErrorKind::internal;
}

}  // namespace mhc::test
